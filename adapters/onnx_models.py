"""ONNX models of one node per layer, built with onnx.helper, for any runtime that executes ONNX models.

A runtime's adapter is an OnnxAdapter that supplies ``session(model)``: an object with
``run(output_names, feeds)``, the call shared by onnxruntime.InferenceSession and
onnx.reference.ReferenceEvaluator. Both runtimes get the same graphs.

BatchNormalization: scale, B, input_mean and input_var are initializers of the model, the form a
deployed model has. Inference runs the node with training_mode=0 and one output; training runs the
same node with training_mode=1 and the running_mean / running_var outputs. A runtime keeps no state
between runs, so after a training run the layer writes those outputs back into the initializers, as
anyone training through an inference runtime must. Dropout: ratio is an initializer (double for double
data, else float), training_mode a boolean graph input fed per call, seed the node attribute when given;
outputs y and the mask.

Models carry the IR version their opset needs (onnx.helper.make_model_gen_version), not onnx's newest,
which a runtime may not accept yet. Gradients, optimizer steps and freezing have no counterpart in an
inference runtime: those methods raise NotExpressible with the profile's reason.
"""
import io
from abc import abstractmethod

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from layerconf.adapters.base import Adapter, BatchNormLayer, DropoutLayer
from layerconf.reference.dtypes import as_dtype, parameter_dtype

ELEMENT_TYPES = {"float64": TensorProto.DOUBLE, "float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16}
STATE = {"running_mean": "input_mean", "running_var": "input_var", "gamma": "scale", "beta": "B"}


class NotExpressible(NotImplementedError):
    """The operation has no counterpart in an inference runtime's API."""


def unsupported(adapter, field: str):
    reason = adapter.profile.get("not_expressible", {}).get(field, "not expressible")
    raise NotExpressible(f"{adapter.name}: {field}: {reason}")


def model(nodes, inputs, outputs, initializers, opset: int) -> onnx.ModelProto:
    """A checked model importing ``opset`` of the default domain, with the IR version that opset needs."""
    graph = helper.make_graph(nodes, "layerconf", inputs, outputs, initializers)
    built = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(built, full_check=True)
    return built


class OnnxBatchNorm(BatchNormLayer):
    def __init__(self, adapter, layout: str, channels: int, dtype: str, native: dict):
        self.adapter, self.layout, self.channels, self.dtype = adapter, layout, channels, dtype
        self.opset = native.pop("opset", adapter.profile.get("batchnorm.opset"))
        self.attributes = native     # epsilon, momentum as given; absent ones take the operator's defaults
        # Opset 14 types scale and B like X (T); opset 15 lets them and the statistics have their own (T1, T2).
        stats = parameter_dtype(dtype)
        self.types = {"scale": dtype if self.opset < 15 else stats, "B": dtype if self.opset < 15 else stats,
                      "input_mean": stats, "input_var": stats}
        initial = adapter.profile.get("batchnorm.initial")
        self.values = {name: as_dtype(np.full(channels, initial[key]), self.types[name]) for key, name in STATE.items()}
        self.sessions = {}

    def _build(self, training: bool) -> onnx.ModelProto:
        shape = ["N" if axis == "N" else self.channels if axis == "C" else f"{axis}_size" for axis in self.layout]
        x = helper.make_tensor_value_info("X", ELEMENT_TYPES[self.dtype], shape)
        y = helper.make_tensor_value_info("Y", ELEMENT_TYPES[self.dtype], shape)
        running = [helper.make_tensor_value_info(f"running_{s}", ELEMENT_TYPES[self.types[f"input_{s}"]], [self.channels])
                   for s in ("mean", "var")] if training else []
        node = helper.make_node("BatchNormalization", ["X", "scale", "B", "input_mean", "input_var"],
                                ["Y", *(v.name for v in running)], training_mode=int(training), **self.attributes)
        initializers = [numpy_helper.from_array(value, name) for name, value in self.values.items()]
        return model([node], [x], [y, *running], initializers, self.opset)

    def forward(self, x, training):
        if training not in self.sessions:
            self.sessions[training] = self.adapter.session(self._build(training))
        outputs = self.sessions[training].run(None, {"X": as_dtype(x, self.dtype)})
        if training:   # the running statistics come back as outputs; they become the model's new initializers
            self._store(input_mean=outputs[1], input_var=outputs[2])
        return outputs[0]

    def _store(self, **values):
        self.values.update({name: np.asarray(v).astype(self.values[name].dtype) for name, v in values.items()})
        self.sessions.clear()

    def state(self):
        return {key: self.values[name].copy() for key, name in STATE.items()}

    def set_state(self, **arrays):
        self._store(**{STATE[key]: as_dtype(value, self.types[STATE[key]]) for key, value in arrays.items()})

    def freeze(self):
        unsupported(self.adapter, "batchnorm.frozen")

    def gradients(self, x, dy, training):
        unsupported(self.adapter, "batchnorm.gradients")

    def sgd_step(self, x, dy, lr, training):
        unsupported(self.adapter, "batchnorm.optimizer")

    def reloaded(self):
        """onnx.save of the inference model (state in its initializers), onnx.load into a fresh layer."""
        buffer = io.BytesIO()
        onnx.save(self._build(training=False), buffer)
        loaded = onnx.load_from_string(buffer.getvalue())
        fresh = OnnxBatchNorm(self.adapter, self.layout, self.channels, self.dtype, {"opset": self.opset, **self.attributes})
        fresh.values = {t.name: numpy_helper.to_array(t) for t in loaded.graph.initializer}
        return fresh


class OnnxDropout(DropoutLayer):
    def __init__(self, adapter, dtype: str, native: dict):
        self.adapter, self.dtype, self.opset = adapter, dtype, adapter.profile.get("dropout.opset")
        self.ratio = as_dtype(native.pop("ratio"), parameter_dtype(dtype))   # T1: a double ratio for double data
        self.attributes = native     # seed, when given
        self.sessions = {}           # by input rank

    def _build(self, rank: int) -> onnx.ModelProto:
        shape = [f"d{i}" for i in range(rank)]
        inputs = [helper.make_tensor_value_info("data", ELEMENT_TYPES[self.dtype], shape),
                  helper.make_tensor_value_info("training_mode", TensorProto.BOOL, [])]
        outputs = [helper.make_tensor_value_info("output", ELEMENT_TYPES[self.dtype], shape),
                   helper.make_tensor_value_info("mask", TensorProto.BOOL, shape)]
        node = helper.make_node("Dropout", ["data", "ratio", "training_mode"], ["output", "mask"], **self.attributes)
        return model([node], inputs, outputs, [numpy_helper.from_array(self.ratio, "ratio")], self.opset)

    def forward_with_mask(self, x, training):
        x = as_dtype(x, self.dtype)
        if x.ndim not in self.sessions:
            self.sessions[x.ndim] = self.adapter.session(self._build(x.ndim))
        y, mask = self.sessions[x.ndim].run(None, {"data": x, "training_mode": np.array(training)})
        return y, mask

    def forward(self, x, training):
        return self.forward_with_mask(x, training)[0]

    def forward_and_grad(self, x, dy):
        unsupported(self.adapter, "dropout.gradients")


class OnnxAdapter(Adapter):
    """What every ONNX runtime's adapter shares: the layers as these models. A runtime adds ``session(model)``."""

    @abstractmethod
    def session(self, model: onnx.ModelProto):
        """An object whose ``run(output_names, feeds)`` executes ``model``."""

    def batchnorm(self, layout, channels, dtype, **native):
        return OnnxBatchNorm(self, layout, channels, dtype, native)

    def dropout(self, variant, layout, dtype, **native):
        variants = self.profile.get("dropout.variants")
        if variant not in variants:
            raise ValueError(f"variant must be one of {sorted(variants)} for {self.name}, got {variant!r}")
        return OnnxDropout(self, dtype, native)
