"""ONNX Runtime: the layers as one-node ONNX models (adapters/onnx_models.py), run by
onnxruntime.InferenceSession created from the model bytes, the way deployment code does.

Flavour onnxruntime runs them at ORT's default graph optimization level (ORT_ENABLE_ALL);
onnxruntime-unoptimized (manifest ``options: {graph_optimization: disabled}``) with every graph optimization
disabled (ORT_DISABLE_ALL), the setting users reach for when an optimized graph misbehaves.

A model whose training BatchNormalization leaves a running output absent (an empty name, as the spec
allows) runs, on CPU, in a forked child process: ORT's CPU kernel writes every output unchecked and the process
dies of SIGSEGV (docs/research/onnx_variants.md). In the child the death is an exception here, the check
records it against its declaration, and the suite goes on.
"""
import multiprocessing
import signal

import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from layerconf.adapters.base import DeviceUnavailable
from layerconf.adapters.onnx_models import OnnxAdapter

CHILD_TIMEOUT_S = 120   # a one-node model runs in milliseconds
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
        if self.device == "cpu" and any(n.op_type == "BatchNormalization" and "" in n.output for n in model.graph.node):
            return ChildSession(self, model)
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


class ChildSession:
    """``run`` in a forked child process: a crash of the runtime becomes a RuntimeError naming the signal."""

    def __init__(self, adapter: OrtAdapter, model: onnx.ModelProto):
        self.adapter, self.model = adapter, model

    def run(self, output_names, feeds):
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=self._child, args=(send, output_names, feeds))
        child.start()
        send.close()
        try:
            kind, value = receive.recv() if receive.poll(CHILD_TIMEOUT_S) else ("hung", None)
        except EOFError:
            kind, value = "died", None
        if kind == "hung":   # a forked child can deadlock on a lock a thread of the parent held at the fork
            child.kill()
            child.join()
            raise RuntimeError(f"onnxruntime's child process gave no result in {CHILD_TIMEOUT_S} s; killed")
        child.join()
        if kind == "died":
            code = child.exitcode
            name = signal.Signals(-code).name if code is not None and code < 0 else f"exit status {code}"
            raise RuntimeError(f"onnxruntime's process died of {name} running the model")
        if kind == "error":
            raise RuntimeError(value)
        return value

    def _child(self, send, output_names, feeds):
        try:
            session = ort.InferenceSession(self.model.SerializeToString(), self.adapter.options,
                                           providers=self.adapter.providers)
            send.send(("result", session.run(output_names, feeds)))
        except Exception as err:   # the runtime's own error, passed on as its message
            send.send(("error", f"{type(err).__name__}: {err}"))


def _identity_model() -> onnx.ModelProto:
    """A one-node model (Identity), to ask a session which providers it uses."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    return helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 13)])


def make_adapter(flavour, device: str = "cpu") -> OrtAdapter:
    return OrtAdapter(flavour, device)
