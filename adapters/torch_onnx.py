"""torch.onnx.export: the torch flavour's modules exported to ONNX and run by onnxruntime.InferenceSession, the graph
users ship. Two flavours, by the manifest's ``options.dynamo``: torch-onnx exports with the default exporter
(dynamo=True: torch.export, then onnxscript's torchlib translates each ATen operator), torch-onnx-torchscript with
the TorchScript exporter (dynamo=False: a jit trace, then torch's symbolic functions), passing
training=TrainingMode.TRAINING or EVAL to match the module's mode.

A graph's mode is fixed at export, so each configuration (module class and arguments, input dtype, mode, channel
count and rank) has a training graph, exported after module.train(), and an inference graph, exported after
module.eval(); a call runs the graph of its mode. Every dimension but the channels is exported dynamic (from an
example of size 2: export specialises 0 and 1), so one graph serves every batch and spatial size; graphs are kept
in memory and in layerconf's cache folder (layerconf.cache, ``torch-onnx/``), keyed by the configuration, the
versions of torch, onnxscript and onnx, and this module's source. The dynamo exporter's list of torchlib functions
is made once per process (``_torchlib_listed_once``).

State: a layer's running statistics, gamma and beta are the graph's initializers, named by the module's state_dict
keys. The exporters merge initializers of equal value (a fresh module's running_var and weight are both ones), so a
graph is exported from a module whose state tensors hold distinct values, and a layer writes its own state into the
initializers by name (onnx.numpy_helper) before it creates its session, as ONNXProgram.apply_weights does.
state() reads the initializers back: neither exporter makes the updated running statistics graph outputs, so a
training call leaves them as they were, and state() shows it. reloaded() is onnx.save / onnx.load of both graphs.
Gradients, optimizer steps and freezing have no counterpart in an inference runtime (NotExpressible).
"""
import contextlib
import functools
import importlib
import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

from layerconf import cache
from layerconf.adapters import onnxruntime as ort_flavour
from layerconf.adapters.base import DeviceUnavailable, DropoutLayer
from layerconf.adapters.onnx_models import InferenceOnlyBatchNorm, unsupported
from layerconf.adapters.pytorch import DTYPES, STATE, TorchAdapter, TorchBatchNorm, TorchDropout, to_tensor
from layerconf.reference.dtypes import as_dtype

EXAMPLE = 2   # the size of every dynamic dimension in the export example (export specialises 0 and 1)
SOURCE = cache.code_digest(__file__)   # how this module exports: part of a graph's key


@functools.cache
def _torchlib_listed_once() -> None:
    """Make the dynamo exporter list onnxscript's torchlib functions once per process, not once per export.

    Each torch.onnx.export(dynamo=True) builds its ONNXRegistry from onnxscript's ``get_torchlib_ops()``, which
    parses the source of every torchlib function (about 500) again for its domain: 0.9 s of each export's 1.6 s on
    a 2-core machine, 100 s of torch-onnx's 126 s cold. The list depends only on the installed onnxscript, and
    the exporter only reads it, so the first one serves every later export (functools.cache); the exported
    graphs are the same. Where torch names no such function (another torch or onnxscript), nothing changes."""
    try:
        from torch.onnx._internal._lazy_import import onnxscript_apis
        apis = importlib.import_module(onnxscript_apis._name)
        listed = apis.get_torchlib_ops
    except (ImportError, AttributeError):
        return
    apis.get_torchlib_ops = functools.cache(listed)


def _export(module: torch.nn.Module, example: torch.Tensor, dynamic: list[int], dynamo: bool) -> onnx.ModelProto:
    """torch.onnx.export of ``module`` in its current mode, the ``dynamic`` dimensions of its input dynamic."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):   # the exporters' progress and advice
        warnings.simplefilter("ignore")
        if dynamo:
            _torchlib_listed_once()
            shapes = ({i: torch.export.Dim(f"d{i}") for i in dynamic},)
            return torch.onnx.export(module, (example,), dynamo=True, dynamic_shapes=shapes, verbose=False).model_proto
        buffer = io.BytesIO()
        mode = torch.onnx.TrainingMode.TRAINING if module.training else torch.onnx.TrainingMode.EVAL
        torch.onnx.export(module, (example,), buffer, dynamo=False, training=mode, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {i: f"d{i}" for i in dynamic}})
        return onnx.load_from_string(buffer.getvalue())


def _distinct_state(module: torch.nn.Module) -> None:
    """Give every floating state tensor of ``module`` values no other holds, so no initializer is merged."""
    with torch.no_grad():
        tensors = [t for t in module.state_dict().values() if t.is_floating_point()]
        for k, t in enumerate(tensors):
            t.copy_(1.5 + k + torch.arange(t.numel(), dtype=t.dtype) / (4 * t.numel()))


@functools.cache
def exported(recipe: tuple, training: bool, rank: int, dynamo: bool) -> onnx.ModelProto:
    """The graph of the layer ``recipe`` names ((kind, module class, channels or None, dtype, native items)) in that
    mode, for inputs of ``rank``: exported once, and read back by later runs (layerconf.cache.artefact)."""
    kind, cls, channels, dtype, native = recipe

    def export() -> onnx.ModelProto:
        if kind == "batchnorm":
            module = TorchBatchNorm(cls, channels, dtype, "cpu", dict(native)).runner
            _distinct_state(module)
        else:
            module = TorchDropout(cls, dtype, "cpu", dict(native)).runner
        shape = [channels if (kind == "batchnorm" and i == 1) else EXAMPLE for i in range(rank)]
        dynamic = [i for i in range(rank) if not (kind == "batchnorm" and i == 1)]
        return _export(module.train(training), to_tensor(np.zeros(shape), DTYPES[dtype], "cpu"), dynamic, dynamo)

    key = (recipe, training, rank, dynamo, torch.__version__, onnx.__version__, _onnxscript_version(), SOURCE)
    return cache.artefact("torch-onnx", key, export, dump=onnx.ModelProto.SerializeToString, load=onnx.load_from_string)


def _onnxscript_version() -> str | None:
    try:
        import onnxscript
    except ImportError:   # the TorchScript exporter needs no onnxscript
        return None
    return onnxscript.__version__


def _with_initializers(model: onnx.ModelProto, values: dict) -> onnx.ModelProto:
    """A copy of ``model`` whose initializers named in ``values`` hold those values (in the initializer's dtype)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for init in copy.graph.initializer:
        if init.name in values:
            kept = numpy_helper.to_array(init).dtype
            init.CopyFrom(numpy_helper.from_array(np.asarray(values[init.name]).astype(kept), init.name))
    return copy


class _Graphs:
    """A layer run through exported graphs: ``loaded`` holds graphs read back by reloaded(), by (training, rank)."""

    def _setup(self, adapter, recipe: tuple, dtype: str):
        self.adapter, self.recipe, self.dtype, self.loaded, self.sessions = adapter, recipe, dtype, {}, {}

    def _graph(self, training: bool, rank: int) -> onnx.ModelProto:
        return self.loaded.get((training, rank)) or exported(self.recipe, training, rank, self.adapter.dynamo)

    def _run(self, x, training: bool, values: dict) -> np.ndarray:
        """y of the graph of that mode, its initializers holding ``values``, on x in the layer's dtype."""
        x = as_dtype(x, self.dtype)
        key = (training, x.ndim)
        if key not in self.sessions:
            self.sessions[key] = self.adapter.session(_with_initializers(self._graph(*key), values))
        session = self.sessions[key]
        return session.run(None, {session.get_inputs()[0].name: x})[0]


class OnnxExportBatchNorm(_Graphs, InferenceOnlyBatchNorm):
    """``values``: the layer's state, initializer name (the state_dict key) -> array; ``rank``: of the last input."""

    def __init__(self, adapter, cls: str, channels: int, dtype: str, native: dict):
        self._setup(adapter, ("batchnorm", cls, channels, dtype, tuple(sorted(native.items()))), dtype)
        self.build = (cls, channels, dtype, native)
        fresh = TorchBatchNorm(cls, channels, dtype, "cpu", dict(native)).runner.state_dict()
        self.values = {name: fresh[name].numpy() for name in STATE.values() if name in fresh}
        self.rank = None

    def forward(self, x, training):
        self.rank = np.ndim(x)
        return self._run(x, training, self.values)

    def state(self):
        """The initializers of the layer's graphs: what a training run wrote back to them, if anything."""
        return {key: None if name not in self.values else self.values[name].copy() for key, name in STATE.items()}

    def set_state(self, **arrays):
        for key, value in arrays.items():
            name = STATE[key]
            self.values[name] = np.asarray(value, dtype=np.float64).astype(self.values[name].dtype)
        self.sessions.clear()

    def reloaded(self):
        """A fresh layer running this layer's two graphs for the rank of its last input, each holding this layer's
        state in its initializers, saved by onnx.save and read back by onnx.load."""
        if self.rank is None:
            raise RuntimeError("reloaded() saves the graphs of the last call's rank; this layer has run none")
        fresh = OnnxExportBatchNorm(self.adapter, *self.build)
        for training in (True, False):
            buffer = io.BytesIO()
            onnx.save(_with_initializers(self._graph(training, self.rank), self.values), buffer)
            fresh.loaded[(training, self.rank)] = onnx.load_from_string(buffer.getvalue())
        held = {i.name: numpy_helper.to_array(i) for i in fresh.loaded[(False, self.rank)].graph.initializer}
        fresh.values = {name: held[name] for name in fresh.values}
        fresh.rank = self.rank
        return fresh


class OnnxExportDropout(_Graphs, DropoutLayer):
    def __init__(self, adapter, cls: str, dtype: str, native: dict):
        TorchDropout(cls, dtype, "cpu", dict(native))   # torch validates the arguments when the module is built
        self._setup(adapter, ("dropout", cls, None, dtype, tuple(sorted(native.items()))), dtype)

    def forward(self, x, training):
        return self._run(x, training, {})

    def forward_and_grad(self, x, dy):
        unsupported(self.adapter, "dropout.gradients")


class TorchOnnxAdapter(TorchAdapter):
    """torch's adapter (profile, class lookup) with layers run as exported graphs in ONNX Runtime (CPU)."""

    def __init__(self, flavour, device: str):
        if device != "cpu":
            raise DeviceUnavailable(f"--device {device}: {flavour.name} runs its graphs on ONNX Runtime's CPU provider "
                                    "(its devices: cpu)")
        super().__init__(flavour, device)
        self.dynamo = flavour.option("dynamo", True)
        self.runtime = ort_flavour.OrtAdapter(flavour, "cpu")   # ORT at its default level (no graph_optimization option), as deployed

    def session(self, model: onnx.ModelProto):
        """An ONNX Runtime session of ``model``, made as the onnxruntime flavour makes its own."""
        return self.runtime.session(model)

    def environment(self):
        exporter = "dynamo=True (torch.export + onnxscript)" if self.dynamo else "dynamo=False (TorchScript)"
        return {"device": "cpu", "providers": ["CPUExecutionProvider"], "onnx": onnx.__version__,
                "onnxruntime": ort.__version__, "onnxscript": _onnxscript_version(),
                "execution": f"torch.onnx.export({exporter}) -> onnxruntime.InferenceSession"}

    def seed(self, seed):
        self.runtime.seed(seed)

    def builders(self):
        return {"batchnorm": self.batchnorm, "dropout": self.dropout}

    def batchnorm(self, config):
        return OnnxExportBatchNorm(self, self._class("batchnorm", config), config.channels, config.dtype, config.native)

    def dropout(self, config):
        return OnnxExportDropout(self, self._class("dropout", config), config.dtype, config.native)


def make_adapter(flavour, device: str = "cpu") -> TorchOnnxAdapter:
    return TorchOnnxAdapter(flavour, device)
