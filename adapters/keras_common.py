"""What Keras 3 and Keras 2 (tf_keras) share: layers from ``keras.layers`` built and called the same way.

``KerasAdapter(runtime)`` is parameterized by a ``KerasRuntime``: the keras package, its backend, and how
NumPy arrays become that backend's tensors and back, and its execution: "eager", or a compiled path
(Keras 3's keras-tensorflow-xla, keras-jax-jit). How a layer is called, differentiated and stepped on each
backend and path lives in adapters/keras_calls.py; the quirks of each package live in adapters/keras3.py and
tf_keras.py.

Conventions kept here: the layer's dtype policy follows the input dtype (float16/bfloat16 run under
the mixed_float16/mixed_bfloat16 policy: float32 variables, half-precision compute, the way Keras users
train in half precision); a layer is built for its input rank (tf_keras chooses its fused kernel from
the rank) with the channel count fixed; the training flag is passed as the call argument.
"""
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layerconf.adapters.base import (
    Adapter,
    AttentionLayer,
    BatchNormLayer,
    DropoutLayer,
    Layer,
    LayerConfig,
    RecurrentLayer,
    TrainingFlagAdapter,
    gate_blocks,
)
from layerconf.adapters.keras_calls import calls
from layerconf.adapters.keras_flag import KerasFlagModel
from layerconf.reference.attention import KEYS
from layerconf.reference.layout import channel_axis

POLICIES = {"float64": "float64", "float32": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
STATE = {"running_mean": "moving_mean", "running_var": "moving_variance", "gamma": "gamma", "beta": "beta"}


@dataclass(frozen=True)
class KerasRuntime:
    """One Keras package on one backend: ``tensor(x, dtype)`` and ``numpy(t)`` convert arrays;
    ``device`` is where the backend places them by default (Keras has no per-layer device); ``execution``
    is how the layers run (adapters/keras_calls.py): "eager" or the compiled path's name."""

    keras: object
    backend: str
    tensor: object
    numpy: object
    device: str
    execution: str = "eager"


def build_shape(layout: str, channels: int) -> tuple:
    """The shape a layer is built for: the layout's rank, the channel count, every other extent free."""
    c = channel_axis(layout)
    return tuple(channels if a == c else None for a in range(len(layout)))


class _LayerRunner:
    """Calls ``self.layer`` (through ``self.calls``, the runtime's execution) on NumPy input of ``self.dtype``
    with the training flag passed."""

    def _tensors(self, *arrays):
        return [self.runtime.tensor(a, self.dtype) for a in arrays]

    def forward(self, x, training):
        return self.runtime.numpy(self.calls.call(*self._tensors(x), training=training))

    def _vjp(self, x, dy, training):
        return self.calls.vjp(*self._tensors(x, dy), training=training)


class KerasBatchNorm(_LayerRunner, BatchNormLayer):
    STATE = STATE

    def __init__(self, runtime: KerasRuntime, layer, dtype: str, build: tuple):
        self.runtime, self.layer, self.dtype, self.build = runtime, layer, dtype, build
        self.calls = calls(runtime, layer)

    @classmethod
    def create(cls, runtime, layout, channels, dtype, native):
        layer = runtime.keras.layers.BatchNormalization(**native, dtype=POLICIES[dtype])
        layer.build(build_shape(layout, channels))
        return cls(runtime, layer, dtype, (layout, channels))

    def _variable(self, key):
        return getattr(self.layer, self.STATE[key], None)

    def state(self):
        return {k: None if self._variable(k) is None else self.runtime.numpy(self._variable(k)) for k in self.STATE}

    def set_state(self, **arrays):
        for key, value in arrays.items():
            variable = self._variable(key)
            dtype = getattr(variable.dtype, "name", variable.dtype)   # a tf.DType in tf_keras, a str in Keras 3
            variable.assign(self.runtime.tensor(value, dtype))

    def forward_masked(self, x, mask, training):
        mask = self.runtime.tensor(mask, "bool")
        return self.runtime.numpy(self.calls.call(*self._tensors(x), training=training, mask=mask))

    def freeze(self):
        self.layer.trainable = False
        self.calls = calls(self.runtime, self.layer)   # a compiled call traced before would still train

    def _names(self):
        """The state key of each trainable variable, in the layer's order."""
        return [next(k for k in ("gamma", "beta") if self._variable(k) is v) for v in self.layer.trainable_variables]

    def gradients(self, x, dy, training):
        _, dx, dv = self._vjp(x, dy, training)
        grads = {"x": self.runtime.numpy(dx), "gamma": None, "beta": None}
        grads.update({name: self.runtime.numpy(g) for name, g in zip(self._names(), dv)})
        return grads

    def sgd_step(self, x, dy, lr, training):
        _, dx = self.calls.step(*self._tensors(x, dy), lr, training=training)
        return self.runtime.numpy(dx)

    def reloaded(self):
        """Saved in a model to a .keras archive and loaded with keras.models.load_model."""
        keras = self.runtime.keras
        layout, channels = self.build
        model = keras.Sequential([keras.Input(build_shape(layout, channels)[1:], dtype=self.layer.compute_dtype), self.layer])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "layer.keras"
            model.save(path)
            loaded = keras.models.load_model(path)
        return KerasBatchNorm(self.runtime, loaded.layers[-1], self.dtype, self.build)


class KerasBatchNormVariant(KerasBatchNorm):
    """BatchNormalization with renorm, virtual batches or synchronized statistics (profile batchnorm_keras): the
    state adds the renorm variables (None without renorm); values cross as (C,) whatever the variable's shape
    (tf_keras gives virtual-batch variables the shape (1, 1, C))."""

    STATE = {**STATE, "moving_stddev": "moving_stddev", "renorm_mean": "renorm_mean", "renorm_stddev": "renorm_stddev"}

    def state(self):
        return {k: None if v is None else v.reshape(-1) for k, v in super().state().items()}

    def set_state(self, **arrays):
        super().set_state(**{k: v.reshape(tuple(self._variable(k).shape)) for k, v in arrays.items()})


class KerasDropout(_LayerRunner, DropoutLayer):
    def __init__(self, runtime, cls: str, dtype: str, native: dict):
        self.runtime, self.dtype = runtime, dtype
        self.layer = getattr(runtime.keras.layers, cls)(**native, dtype=POLICIES[dtype])
        self.calls = calls(runtime, self.layer)

    def forward_and_grad(self, x, dy):
        y, dx, _ = self._vjp(x, dy, True)
        return self.runtime.numpy(y), self.runtime.numpy(dx)


class KerasAttention(AttentionLayer):
    """keras.layers.MultiHeadAttention(num_heads=H, key_dim=E / H, dropout=p), called layer(query, value, key=key,
    training=...); built on its first call. get_weights()/set_weights() hold the state in the reference's order
    (query, key, value kernel (E, H, D) and bias (H, D), attention_output kernel (H, D, E) and bias (E,))."""

    def __init__(self, runtime, cls: str, dtype: str, embed: int, heads: int, native: dict):
        self.runtime, self.dtype = runtime, dtype
        self.layer = getattr(runtime.keras.layers, cls)(num_heads=heads, key_dim=embed // heads, **native, dtype=POLICIES[dtype])
        self.embed = embed

    def attend(self, query, key, value, training, weights=False):
        q, k, v = (self.runtime.tensor(a, self.dtype) for a in (query, key, value))
        out = self.layer(q, v, key=k, training=training, return_attention_scores=weights)
        y, w = out if weights else (out, None)
        return self.runtime.numpy(y), None if w is None else self.runtime.numpy(w)

    def _built(self):
        if not self.layer.built:
            x = self.runtime.tensor(np.zeros((1, 1, self.embed)), self.dtype)
            self.layer(x, x, training=False)
        return self.layer

    def state(self):
        return dict(zip(KEYS, self._built().get_weights()))

    def set_state(self, **arrays):
        self._built().set_weights([arrays.get(k, old) for k, old in zip(KEYS, self.layer.get_weights())])


class KerasAugmentation(Layer):
    """A keras.layers Random* image layer called eagerly: layer(x, training=training), or layer(x) for None."""

    def __init__(self, runtime, cls: str, dtype: str, native: dict):
        self.runtime, self.dtype = runtime, dtype
        self.layer = getattr(runtime.keras.layers, cls)(**native, dtype=POLICIES[dtype])

    def forward(self, x, training):
        flag = {} if training is None else {"training": training}
        return self.runtime.numpy(self.layer(self.runtime.tensor(x, self.dtype), **flag))


class KerasLayer(_LayerRunner, Layer):
    """A keras.layers class of one input, built with the dtype policy of its input."""

    def __init__(self, runtime, cls: str, dtype: str, native: dict):
        self.runtime, self.dtype = runtime, dtype
        self.layer = getattr(runtime.keras.layers, cls)(**native, dtype=POLICIES[dtype])
        self.calls = calls(runtime, self.layer)

    def forward_and_grad(self, x, dy, training):
        y, dx, _ = self._vjp(x, dy, training)
        return self.runtime.numpy(y), self.runtime.numpy(dx)


class KerasRecurrent(_LayerRunner, RecurrentLayer):
    """keras.layers.SimpleRNN / LSTM / GRU(units, return_sequences=True), built for (None, None, features); weights
    through get_weights/set_weights: kernel, recurrent_kernel, bias with the gate columns in the profile's
    recurrent.gates order. A bias of shape (2, G H) (GRU reset_after=True) holds [bias, recurrent_bias]; a single
    bias (SimpleRNN, LSTM) is bias + recurrent_bias, the same pre-activation."""

    def __init__(self, runtime, cls, cell, gates, features, units, dtype, native):
        self.runtime, self.dtype, self.cell, self.gates = runtime, dtype, cell, gates
        self.layer = getattr(runtime.keras.layers, cls)(units, return_sequences=True, **native, dtype=POLICIES[dtype])
        self.layer.build((None, None, features))
        self.calls = calls(runtime, self.layer)

    def set_weights(self, layers):
        (w,) = layers
        kernel, recurrent, bias = (gate_blocks(w[k], self.cell, self.gates) for k in ("kernel", "recurrent_kernel", "bias"))
        recurrent_bias = gate_blocks(w["recurrent_bias"], self.cell, self.gates)
        two = len(self.layer.get_weights()[2].shape) == 2
        self.layer.set_weights([kernel, recurrent, np.stack([bias, recurrent_bias]) if two else bias + recurrent_bias])


class KerasAdapter(Adapter, TrainingFlagAdapter):
    """A Keras runtime through keras.layers; the profile names the classes and per-layout arguments."""

    def __init__(self, flavour, device: str, runtime: KerasRuntime):
        super().__init__(flavour, device)
        self.runtime, self.keras = runtime, runtime.keras

    def version(self):
        return self.keras.__version__

    def environment(self):
        return {"device": self.runtime.device, "backend": self.runtime.backend, "floatx": self.keras.backend.floatx(),
                "execution": self.runtime.execution}

    def seed(self, seed):
        self.keras.utils.set_random_seed(seed)

    def _layout_arguments(self, layer, layout):
        return self.profile.get(f"{layer}.layout_arguments", {}).get(layout, {})

    def _class(self, section: str, config: LayerConfig) -> str:
        return self.profile.layer_class(section, config.kind, config.layout)

    def builders(self):
        return {"batchnorm": self.batchnorm, "batchnorm_keras": self.batchnorm_keras, "dropout": self.dropout,
                "attention": self.attention, "recurrent": self.recurrent, "augmentation": self.augmentation,
                "models": self.models, "replicas": self.replicas}

    def one_input(self, cls, config):
        return KerasLayer(self.runtime, cls, config.dtype, config.native)

    def batchnorm(self, config):
        native = {**self._layout_arguments("batchnorm", config.layout), **config.native}
        return KerasBatchNorm.create(self.runtime, config.layout, config.channels, config.dtype, native)

    def batchnorm_keras(self, config):
        native = {**self._layout_arguments("batchnorm", config.layout), **config.native}
        return KerasBatchNormVariant.create(self.runtime, config.layout, config.channels, config.dtype, native)

    def dropout(self, config):
        native = config.native
        if isinstance(self.profile.get(f"dropout.variants.{config.kind}"), dict):
            native = {**self._layout_arguments("dropout", config.layout), **native}
        return KerasDropout(self.runtime, self._class("dropout", config), config.dtype, native)

    def attention(self, config):
        return KerasAttention(self.runtime, self._class("attention", config), config.dtype, config.sizes["embed"],
                              config.sizes["heads"], config.native)

    def recurrent(self, config):
        if config.sizes["layers"] != 1:
            raise ValueError(f"a Keras recurrent layer is one layer (stack them in a model), got layers={config.sizes['layers']}")
        return KerasRecurrent(self.runtime, self._class("recurrent", config), config.kind,
                              self.profile.get("recurrent.gates", {}).get(config.kind), config.sizes["features"],
                              config.sizes["units"], config.dtype, config.native)

    def augmentation(self, config):
        return KerasAugmentation(self.runtime, self._class("augmentation", config), config.dtype, config.native)

    def models(self, config):
        """The nested model of adapters.keras_models (config.kind: the container; native: each layer's arguments)."""
        from layerconf.adapters.keras_models import make
        return make(self.runtime, config.kind, config.channels, config.native)

    def replicas(self, config):
        """Replicas as Keras users run them on the backend: MirroredStrategy on TensorFlow (adapters.keras_replicas;
        'sync' and 'local' a BatchNormalization with synchronized=True and False), DataParallel on JAX
        (adapters.keras_distribution; the layer sees the global batch); 'dropout' the profile's dropout class."""
        native = dict(config.native)
        if config.kind in ("sync", "local"):
            native.update(self._layout_arguments("batchnorm", config.layout))
        if self.runtime.backend == "jax":
            from layerconf.adapters.keras_distribution import KerasDataParallel as replicated
        else:
            from layerconf.adapters.keras_replicas import KerasReplicas as replicated
            if config.kind in ("sync", "local"):
                native["synchronized"] = config.kind == "sync"
        return replicated(self.runtime, self._class("replicas", config), native, config.sizes["replicas"], self.device,
                          config.dtype, config.layout, config.channels)

    def flag_model(self, channels, base_training, lr, **native):
        return KerasFlagModel(self.runtime, channels, base_training, lr, native)
