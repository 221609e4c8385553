"""ONNX models of one node per layer, built with onnx.helper, for any runtime that executes ONNX models.

A runtime's adapter is an OnnxAdapter that supplies ``session(model)``: an object with
``run(output_names, feeds)``, the call shared by onnxruntime.InferenceSession and
onnx.reference.ReferenceEvaluator. Both runtimes get the same graphs.

Every form the operator specification allows is a native argument (the tables below hold what each
operator version changes; docs/research/onnx_variants.md cites them):
- ``opset``: the operator version. BatchNormalization trains by its attribute is_test=0 (6), by asking
  for its optional outputs (7, 9: Y, mean, var, saved_mean, saved_var) or by training_mode=1 (14, 15: Y,
  running_mean, running_var). Dropout before 12 has a ratio attribute and no mode input (an inference
  runtime runs it in test mode); from 12 ratio and training_mode are optional inputs.
- ``parameters``: scale, B, input_mean, input_var (Dropout: ratio) as ``initializers`` of the model (the
  form a deployed model has), as graph ``inputs`` fed at every run, or (Dropout's ratio) ``absent``.
- ``outputs``: the running statistics (Dropout: the mask) as ``graph`` outputs, passed through an
  ``identity`` node to the graph's outputs, named but ``unused``, or ``absent`` (an empty name).
- Dropout's ``training_mode``: an ``input`` fed per call, or ``absent`` (the spec's default, false).
- BatchNormalization's ``spatial`` (6 to 8): an attribute written as given; with 0 the statistics are per
  activation, and scale, B, input_mean and input_var are declared in the shape of the state the layer holds
  (``set_state`` with arrays of shape (C, D1, ..., Dn)).

A runtime keeps no state between runs, so after a training run that returns the running statistics the
layer writes them back into its parameters, as anyone training through an inference runtime must.
Models carry the IR version their opset needs (onnx.helper.make_model_gen_version), not onnx's newest,
which a runtime may not accept yet. Gradients, optimizer steps and freezing have no counterpart in an
inference runtime: those methods raise NotExpressible with the profile's reason.
"""
import io
import multiprocessing
import signal
from abc import abstractmethod

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from layerconf.adapters.base import Adapter, BatchNormLayer, DropoutLayer
from layerconf.reference.dtypes import as_dtype, parameter_dtype

ELEMENT_TYPES = {"float64": TensorProto.DOUBLE, "float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16,
                 "bool": TensorProto.BOOL}
STATE = {"running_mean": "input_mean", "running_var": "input_var", "gamma": "scale", "beta": "B"}
INPUTS = ("scale", "B", "input_mean", "input_var")    # BatchNormalization's inputs after X, in order

# BatchNormalization by the version it was introduced in: the attributes of a training and of an inference
# node, and the optional outputs of a training node after Y (the running statistics first).
BN_VERSIONS = {
    6: ({"is_test": 0}, {"is_test": 1}, ("mean", "var", "saved_mean", "saved_var")),
    7: ({}, {}, ("mean", "var", "saved_mean", "saved_var")),      # is_test removed: the outputs say training
    14: ({"training_mode": 1}, {"training_mode": 0}, ("running_mean", "running_var")),
}
# Dropout by version: ratio an attribute or an input; the mask's type (T: the data's; or bool).
DO_VERSIONS = {7: {"ratio": "attribute", "mask": None}, 10: {"ratio": "attribute", "mask": "bool"},
               12: {"ratio": "input", "mask": "bool"}}


def version_form(table: dict, opset: int):
    """The entry of ``table`` for the newest version at or before ``opset``."""
    return table[max(v for v in table if v <= opset)]


class NotExpressible(NotImplementedError):
    """The operation has no counterpart in an inference runtime's API."""


def unsupported(adapter, field: str):
    reason = adapter.profile.get("not_expressible", {}).get(field, "not expressible")
    raise NotExpressible(f"{adapter.name}: {field}: {reason}")


def model(nodes, inputs, outputs, initializers, opset: int) -> onnx.ModelProto:
    """A checked model importing ``opset`` of the default domain, with the IR version that opset needs (IR 3
    before opset 9, ...; onnx.helper.VERSION_TABLE)."""
    graph = helper.make_graph(nodes, "layerconf", inputs, outputs, initializers)
    built = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", opset)])
    if built.ir_version < 4:   # IR 3 (opsets before 9): an initializer is the default of a graph input of its name
        built.graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, t.dims) for t in initializers)
    onnx.checker.check_model(built, full_check=True)
    return built


def tensor(name, dtype, shape):
    return helper.make_tensor_value_info(name, ELEMENT_TYPES[dtype], shape)


def optional_outputs(names, types, form: str):
    """The node's names for optional outputs under ``form``, the graph outputs they reach, and the extra nodes.
    names: the outputs' names; types: name -> (dtype, shape)."""
    if form == "absent":
        return ["" for _ in names], [], []
    if form == "unused":
        return list(names), [], []
    if form == "identity":
        nodes = [helper.make_node("Identity", [n], [f"{n}_out"]) for n in names]
        return list(names), [tensor(f"{n}_out", *types[n]) for n in names], nodes
    if form == "graph":
        return list(names), [tensor(n, *types[n]) for n in names], []
    raise ValueError(f"outputs must be graph, identity, unused or absent, got {form!r}")


class InferenceOnlyBatchNorm(BatchNormLayer):
    """A BatchNorm run by an inference runtime: no freezing, gradients or optimizer step (NotExpressible)."""

    def freeze(self):
        unsupported(self.adapter, "batchnorm.frozen")

    def gradients(self, x, dy, training):
        unsupported(self.adapter, "batchnorm.gradients")

    def sgd_step(self, x, dy, lr, training):
        unsupported(self.adapter, "batchnorm.optimizer")


class OnnxBatchNorm(InferenceOnlyBatchNorm):
    def __init__(self, adapter, layout: str, channels: int, dtype: str, native: dict):
        self.adapter, self.layout, self.channels, self.dtype = adapter, layout, channels, dtype
        self.native = dict(native)
        self.opset = native.pop("opset", adapter.profile.get("batchnorm.opset"))
        self.parameters = native.pop("parameters", "initializers")
        self.outputs = native.pop("outputs", "graph")
        self.attributes = native     # epsilon, momentum, spatial (6-8) as given; absent ones take the operator's defaults
        # Before 14 every input is typed like X (T); 14 gives the statistics their own type (U), 15 also
        # scale and B (T1, T2).
        stats = parameter_dtype(dtype)
        self.types = {"scale": dtype if self.opset < 15 else stats, "B": dtype if self.opset < 15 else stats,
                      "input_mean": dtype if self.opset < 14 else stats, "input_var": dtype if self.opset < 14 else stats}
        initial = adapter.profile.get("batchnorm.initial")
        self.values = {name: as_dtype(np.full(channels, initial[key]), self.types[name]) for key, name in STATE.items()}
        self.sessions = {}

    def _build(self, training: bool) -> onnx.ModelProto:
        shape = ["N" if axis == "N" else self.channels if axis == "C" else f"{axis}_size" for axis in self.layout]
        train_attributes, infer_attributes, extra = version_form(BN_VERSIONS, self.opset)
        outputs, graph_outputs, nodes = ["Y"], [tensor("Y", self.dtype, shape)], []
        if training:   # the running statistics in the case's form; saved_mean and saved_var (before 14) unused
            types = {n: (self.types[i], self._shape(i)) for n, i in zip(extra, ("input_mean", "input_var"))}
            outputs, graph_outputs, nodes = optional_outputs(extra[:2], types, self.outputs)
            outputs, graph_outputs = ["Y", *outputs, *extra[2:]], [tensor("Y", self.dtype, shape), *graph_outputs]
        node = helper.make_node("BatchNormalization", ["X", *INPUTS], outputs,
                                **(train_attributes if training else infer_attributes), **self.attributes)
        parameters = [tensor(name, self.types[name], self._shape(name)) for name in INPUTS]
        inputs = [tensor("X", self.dtype, shape), *(parameters if self.parameters == "inputs" else [])]
        initializers = [numpy_helper.from_array(value, name) for name, value in self.values.items()]
        return model([node, *nodes], inputs, graph_outputs, initializers if self.parameters == "initializers" else [],
                     self.opset)

    def _shape(self, name):
        """An input's declared shape: (C), or (C, D1, ..., Dn) per activation (spatial=0), as its value holds it."""
        return list(self.values[name].shape)

    def forward(self, x, training):
        if training not in self.sessions:
            self.sessions[training] = self.adapter.session(self._build(training))
        feeds = {"X": as_dtype(x, self.dtype), **(self.values if self.parameters == "inputs" else {})}
        outputs = self.sessions[training].run(None, feeds)
        if training and len(outputs) == 3:   # the running statistics came back: the layer's new parameters
            self._store(input_mean=outputs[1], input_var=outputs[2])
        return outputs[0]

    def _store(self, **values):
        self.values.update({name: np.asarray(v).astype(self.values[name].dtype) for name, v in values.items()})
        if self.parameters == "initializers":
            self.sessions.clear()

    def state(self):
        return {key: self.values[name].copy() for key, name in STATE.items()}

    def set_state(self, **arrays):
        self._store(**{STATE[key]: as_dtype(value, self.types[STATE[key]]) for key, value in arrays.items()})

    def reloaded(self):
        """onnx.save of the inference model (state in its initializers), onnx.load into a fresh layer."""
        buffer = io.BytesIO()
        onnx.save(self._build(training=False), buffer)
        loaded = onnx.load_from_string(buffer.getvalue())
        fresh = OnnxBatchNorm(self.adapter, self.layout, self.channels, self.dtype, self.native)
        fresh.values = {t.name: numpy_helper.to_array(t) for t in loaded.graph.initializer}
        return fresh


class OnnxDropout(DropoutLayer):
    def __init__(self, adapter, dtype: str, native: dict):
        self.adapter, self.dtype = adapter, dtype
        self.opset = native.pop("opset", adapter.profile.get("dropout.opset"))
        self.form = version_form(DO_VERSIONS, self.opset)
        self.parameters = native.pop("parameters", "initializers")
        self.outputs = native.pop("outputs", "graph")
        mode = native.pop("training_mode", "input")
        self.mode = mode if self.form["ratio"] == "input" else "absent"   # no such input before 12
        ratio = native.pop("ratio")
        if self.form["ratio"] == "attribute":
            native["ratio"] = float(ratio)
        self.ratio = as_dtype(ratio, parameter_dtype(dtype))   # T1: a double ratio for double data
        self.attributes = native     # seed, when given; ratio before opset 12
        self.sessions = {}           # by input rank

    def _build(self, rank: int) -> onnx.ModelProto:
        shape = [f"d{i}" for i in range(rank)]
        inputs, initializers = [tensor("data", self.dtype, shape)], []
        names = ["data"]
        if self.form["ratio"] == "input":
            ratio = tensor("ratio", parameter_dtype(self.dtype), [])
            inputs += [ratio] if self.parameters == "inputs" else []
            initializers += [numpy_helper.from_array(self.ratio, "ratio")] if self.parameters == "initializers" else []
            names.append("" if self.parameters == "absent" else "ratio")
        if self.mode == "input":
            inputs.append(tensor("training_mode", "bool", []))
            names.append("training_mode")
        mask, graph_outputs, nodes = optional_outputs(["mask"], {"mask": (self.form["mask"] or self.dtype, shape)},
                                                      self.outputs)
        node = helper.make_node("Dropout", names, ["output", *mask], **self.attributes)
        return model([node, *nodes], inputs, [tensor("output", self.dtype, shape), *graph_outputs], initializers,
                     self.opset)

    def forward_with_mask(self, x, training):
        """(y, mask), the mask None where the case's outputs do not return it."""
        if training and self.mode == "absent":
            raise NotExpressible(f"{self.adapter.name}: Dropout-{self.opset} without a training_mode input runs in test mode")
        x = as_dtype(x, self.dtype)
        if x.ndim not in self.sessions:
            self.sessions[x.ndim] = self.adapter.session(self._build(x.ndim))
        feeds = {"data": x, **({"training_mode": np.array(training)} if self.mode == "input" else {}),
                 **({"ratio": self.ratio} if self.parameters == "inputs" and self.form["ratio"] == "input" else {})}
        outputs = self.sessions[x.ndim].run(None, feeds)
        return outputs[0], (outputs[1] if len(outputs) > 1 else None)

    def forward(self, x, training):
        return self.forward_with_mask(x, training)[0]

    def forward_and_grad(self, x, dy):
        unsupported(self.adapter, "dropout.gradients")


CHILD_TIMEOUT_S = 120   # a one-node model runs in milliseconds


def crash_prone(model: onnx.ModelProto) -> bool:
    """A training BatchNormalization with a running output absent (an empty name): ONNX Runtime's CPU kernel writes
    it unchecked and its process dies of SIGSEGV (docs/research/onnx_variants.md)."""
    return any(n.op_type == "BatchNormalization" and "" in n.output for n in model.graph.node)


class ChildSession:
    """``run`` in a forked child process, where ``make(model)`` creates the runtime's session: a crash of the runtime
    becomes a RuntimeError naming the signal. ``runtime`` names it in the messages."""

    def __init__(self, make, model: onnx.ModelProto, runtime: str):
        self.make, self.model, self.runtime = make, model, runtime

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
            raise RuntimeError(f"{self.runtime}'s child process gave no result in {CHILD_TIMEOUT_S} s; killed")
        child.join()
        if kind == "died":
            code = child.exitcode
            name = signal.Signals(-code).name if code is not None and code < 0 else f"exit status {code}"
            raise RuntimeError(f"{self.runtime}'s process died of {name} running the model")
        if kind == "error":
            raise RuntimeError(value)
        return value

    def _child(self, send, output_names, feeds):
        try:
            send.send(("result", self.make(self.model).run(output_names, feeds)))
        except Exception as err:   # the runtime's own error, passed on as its message
            send.send(("error", f"{type(err).__name__}: {err}"))


class OnnxAdapter(Adapter):
    """What every ONNX runtime's adapter shares: the layers as these models. A runtime adds ``session(model)``."""

    @abstractmethod
    def session(self, model: onnx.ModelProto):
        """An object whose ``run(output_names, feeds)`` executes ``model``."""

    def builders(self):
        return {"batchnorm": self.batchnorm, "dropout": self.dropout}

    def batchnorm(self, config):
        return OnnxBatchNorm(self, config.layout, config.channels, config.dtype, config.native)

    def dropout(self, config):
        variants = self.profile.get("dropout.variants")
        if config.kind not in variants:
            raise ValueError(f"variant must be one of {sorted(variants)} for {self.name}, got {config.kind!r}")
        return OnnxDropout(self, config.dtype, config.native)
