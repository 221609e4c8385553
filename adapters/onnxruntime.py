"""ONNX Runtime: the layers as one-node ONNX models (adapters/onnx_models.py), run by
onnxruntime.InferenceSession created from the model bytes, the way deployment code does.

Flavour onnxruntime runs them at ORT's default graph optimization level (ORT_ENABLE_ALL);
onnxruntime-unoptimized (manifest ``options: {graph_optimization: disabled}``) with every graph optimization
disabled (ORT_DISABLE_ALL), the setting users reach for when an optimized graph misbehaves.

A model whose training BatchNormalization leaves a running output absent (an empty name, as the spec
allows) runs, on CPU, in a forked child process (onnx_models.ChildSession): ORT's CPU kernel writes every output
unchecked and the process dies of SIGSEGV (docs/research/onnx_variants.md). In the child the death is an
exception here, the check records it against its declaration, and the suite goes on.
"""
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from layerconf.adapters.base import DeviceUnavailable
from layerconf.adapters.onnx_models import ChildSession, OnnxAdapter, crash_prone

PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider"]}


class OrtAdapter(OnnxAdapter):
    LEVELS = {"all": "ORT_ENABLE_ALL", "disabled": "ORT_DISABLE_ALL"}   # the manifest's options.graph_optimization

    def __init__(self, flavour, device: str):
        available = ort.get_available_providers()
        if PROVIDERS[device][0] not in available:
            raise DeviceUnavailable(f"--device {device}: this onnxruntime build has no {PROVIDERS[device][0]} "
                                    f"(its providers: {', '.join(available)})")
        super().__init__(flavour, device)
        self.providers = PROVIDERS[device]
        self.options = ort.SessionOptions()
        self.options.log_severity_level = 4    # errors reach the caller as exceptions; keep stderr quiet
        level = self.LEVELS[flavour.option("graph_optimization", "all")]
        self.options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)

    def session(self, model) -> ort.InferenceSession:
        if self.device == "cpu" and crash_prone(model):
            return ChildSession(self._session, model, "onnxruntime")
        return self._session(model)

    def _session(self, model) -> ort.InferenceSession:
        return ort.InferenceSession(model.SerializeToString(), self.options, providers=self.providers)

    def version(self):
        return ort.__version__

    def environment(self):
        used = self.session(_identity_model()).get_providers()   # what a session actually runs on
        return {"device": {"CPUExecutionProvider": "cpu", "CUDAExecutionProvider": "cuda"}.get(used[0], used[0]),
                "providers": used, "onnx": onnx.__version__,
                "graph_optimization_level": str(self.options.graph_optimization_level)}

    def seed(self, seed):
        ort.set_seed(seed)


def _identity_model() -> onnx.ModelProto:
    """A one-node model (Identity), to ask a session which providers it uses."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    return helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 13)])


def make_adapter(flavour, device: str = "cpu") -> OrtAdapter:
    return OrtAdapter(flavour, device)
