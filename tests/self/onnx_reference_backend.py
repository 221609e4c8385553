"""onnx.reference.ReferenceEvaluator as an onnx.backend.base.Backend, for the onnx-backend flavour's self-tests and
demonstration (``--onnx-backend tests.self.onnx_reference_backend:ReferenceBackend`` from the repository root).
onnx ships no such Backend: its ReferenceEvaluatorBackend lives in its own tests
(onnx/test/reference_evaluator_backend_test.py), outside the package. Inputs are a list in the order of the
graph inputs no initializer feeds, as onnx's backend test runner gives them."""
from onnx.backend.base import Backend, BackendRep, Device, DeviceType
from onnx.reference import ReferenceEvaluator


class ReferenceRep(BackendRep):
    def __init__(self, model):
        initialized = {t.name for t in model.graph.initializer}
        self.names = [i.name for i in model.graph.input if i.name not in initialized]
        self.evaluator = ReferenceEvaluator(model)

    def run(self, inputs, **kwargs):
        return self.evaluator.run(None, dict(zip(self.names, inputs)))


class ReferenceBackend(Backend):
    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        super().prepare(model, device, **kwargs)   # onnx.checker.check_model
        return ReferenceRep(model)

    @classmethod
    def supports_device(cls, device):
        return Device(device).type == DeviceType.CPU
