"""ONNX's reference runtime: the layers as one-node ONNX models (adapters/onnx_models.py, the models the
onnxruntime flavour runs), executed by onnx.reference.ReferenceEvaluator, the Python implementation of the
operator specification. CPU only: it computes with NumPy.
"""
import onnx
from onnx.reference import ReferenceEvaluator

from layerconf.adapters.base import DeviceUnavailable
from layerconf.adapters.onnx_models import OnnxAdapter


class ReferenceAdapter(OnnxAdapter):
    def __init__(self, flavour, device: str):
        if device != "cpu":
            raise DeviceUnavailable(f"--device {device}: onnx.reference.ReferenceEvaluator computes with NumPy "
                                    f"(its devices: cpu)")
        super().__init__(flavour, device)

    def session(self, model) -> ReferenceEvaluator:
        return ReferenceEvaluator(model)

    def version(self):
        return onnx.__version__

    def environment(self):
        return {"device": "cpu", "runtime": "onnx.reference.ReferenceEvaluator"}

    def seed(self, seed):
        """Nothing to seed: a Dropout node without a seed attribute draws from numpy.random.RandomState(None)
        (profile not_expressible/dropout.seeding)."""


def make_adapter(flavour, device: str = "cpu") -> ReferenceAdapter:
    return ReferenceAdapter(flavour, device)
