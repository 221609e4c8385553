"""Keras 3 (every backend) and tf_keras: layers inside models (profile models, adapters.base.NestedModel).

A subclassed keras.Model whose ``base`` is a keras Layer holding BatchNormalization and Dropout in the case's container
(keras.Sequential, a list of layers, a dict of layers: Keras tracks layers in list and dict attributes) under a
Dense(1) head. The mode is the ``training`` argument of the model's call: the base and its layers are called without
it and inherit it from the outer call (Keras's call context), except where the fine-tuning recipe calls the base with
``training=False``. The state is the model's variables; freezing is ``model.base.trainable = False`` (recursive;
it also runs BatchNormalization in inference mode); a step is the custom training loop of the backend's Keras guide
(tf.GradientTape, torch.autograd, jax.value_and_grad of model.stateless_call) and
``keras.optimizers.SGD(lr).apply_gradients`` over ``model.trainable_variables``; saving is ``model.save_weights``
to an .weights.h5 file and ``load_weights`` into a fresh model built by one call.
"""
import tempfile
from pathlib import Path

import numpy as np

from layerconf.adapters.base import NestedModel

NAMES = {"running_mean": "moving_mean", "running_var": "moving_variance", "gamma": "gamma", "beta": "beta"}


def _classes(keras):
    """The model's classes for one keras package (Keras 3 or tf_keras)."""

    class Base(keras.layers.Layer):
        def __init__(self, kind, native, **kwargs):
            super().__init__(**kwargs)
            self.kind = kind
            bn, drop = keras.layers.BatchNormalization(**native["batchnorm"]), keras.layers.Dropout(**native["dropout"])
            if kind == "sequential":
                self.blocks = keras.Sequential([bn, drop])
            elif kind == "list":
                self.blocks = [bn, drop]
            elif kind == "dict":
                self.blocks = {"bn": bn, "drop": drop}
            else:
                raise ValueError(f"no container kind {kind!r}")

        def batchnorm(self):
            return {"sequential": lambda: self.blocks.layers[0], "list": lambda: self.blocks[0],
                    "dict": lambda: self.blocks["bn"]}[self.kind]()

        def call(self, x):   # no training argument: every layer below inherits the outer call's
            if self.kind == "sequential":
                return self.blocks(x)
            if self.kind == "list":
                for layer in self.blocks:
                    x = layer(x)
                return x
            return self.blocks["drop"](self.blocks["bn"](x))

    class Model(keras.Model):
        def __init__(self, kind, native, **kwargs):
            super().__init__(**kwargs)
            self.base = Base(kind, native, name="base")
            self.head = keras.layers.Dense(1, name="head")
            self.base_training = None   # the recipe's base(x, training=False); None: inherited

        def call(self, x, training=None):
            h = self.base(x) if self.base_training is None else self.base(x, training=self.base_training)
            return h, self.head(h)

    return Model


def _value_and_grad(runtime, model, x, t, training):
    """((features, loss), gradients of model.trainable_variables) of one training call, the backend's way; the
    non-trainable variables (moving statistics, the Dropout's seed state) end up updated, as after model(x)."""
    variables = model.trainable_variables
    if runtime.backend == "tensorflow":
        import tensorflow as tf
        with tf.GradientTape() as tape:
            h, p = model(x, training=training)
            loss = tf.reduce_mean(tf.square(p - t))
        return (h, loss), tape.gradient(loss, variables)
    if runtime.backend == "torch":
        import torch
        h, p = model(x, training=training)
        loss = torch.mean((p - t) ** 2)
        return (h.detach(), loss.detach()), list(torch.autograd.grad(loss, [v.value for v in variables]))
    import jax
    import jax.numpy as jnp

    def loss(trainable, non_trainable):
        (h, p), non_trainable = model.stateless_call(trainable, non_trainable, x, training=training)
        return jnp.mean((p - t) ** 2), (h, non_trainable)

    non_trainable = model.non_trainable_variables
    (value, (h, updated)), grads = jax.value_and_grad(loss, has_aux=True)(
        [v.value for v in variables], [v.value for v in non_trainable])
    for variable, new in zip(non_trainable, updated):
        variable.assign(new)
    return (h, value), grads


def make(runtime, kind: str, channels: int, native: dict) -> NestedModel:
    keras = runtime.keras
    model_class = _classes(keras)

    class _Nested(NestedModel):
        def __init__(self):
            self.model = model_class(kind, native, name="model")
            self.model(runtime.tensor(np.zeros((2, channels), np.float32), "float32"), training=False)   # built by a call
            self.training = None

        def _variables(self):
            bn, head = self.model.base.batchnorm(), self.model.head
            return {**{key: getattr(bn, name) for key, name in NAMES.items()}, "kernel": head.kernel, "bias": head.bias}

        def set_mode(self, training, part="model"):
            if part == "model":
                self.training = training
            else:
                self.model.base_training = training

        def run(self, x):
            h, p = self.model(runtime.tensor(x, "float32"), training=self.training)
            return runtime.numpy(h), runtime.numpy(p)

        def state_names(self):
            return {key: getattr(v, "path", v.name) for key, v in self._variables().items()}

        def state(self):
            return {key: runtime.numpy(v) for key, v in self._variables().items()}

        def set_state(self, **arrays):
            variables = self._variables()
            for key, value in arrays.items():
                variables[key].assign(runtime.tensor(value, "float32"))

        def freeze_base(self):
            self.model.base.trainable = False

        def sgd_step(self, x, t, lr):
            (h, loss), grads = _value_and_grad(runtime, self.model, runtime.tensor(x, "float32"),
                                               runtime.tensor(t, "float32"), self.training)
            keras.optimizers.SGD(learning_rate=lr).apply_gradients(zip(grads, self.model.trainable_variables))
            return runtime.numpy(h), float(runtime.numpy(loss))

        def pitfall(self):
            # the base called without training=False: the model's flag reaches it (trainable=False stays)
            self.model.base_training = None

        def reloaded(self):
            fresh = make(runtime, kind, channels, native)
            with tempfile.TemporaryDirectory() as tmp:
                path = str(Path(tmp) / "model.weights.h5")
                self.model.save_weights(path)
                fresh.model.load_weights(path)
            return fresh

    return _Nested()
