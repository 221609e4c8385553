"""MLX: mlx.nn modules in train()/eval() mode, mx.value_and_grad, mlx.optimizers.SGD, save_weights/load_weights.

MLX is lazy: a call only records the computation. The adapter forces what a user's training loop forces,
``mx.eval(y, module.parameters())`` after each call and ``mx.eval(module.parameters(), optimizer.state)`` after
each step (the running statistics are among the parameters), then reads arrays that are already computed.

Quirks kept here: MLX layers are channels-last (the class per layout and variant comes from the profile);
float64 runs the module in float64 (``module.set_dtype``), float16/bfloat16 inputs run through a float32 module
(the precision the layer's parameters are created in).
"""
import tempfile
from pathlib import Path

import ml_dtypes
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from layerconf.adapters.base import Adapter, BatchNormLayer, DeviceUnavailable, DropoutLayer, Layer

DTYPES = {"float64": mx.float64, "float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}
STATE = {"running_mean": "running_mean", "running_var": "running_var", "gamma": "weight", "beta": "bias"}


def to_array(x, dtype: str) -> mx.array:
    """NumPy -> an array of ``dtype`` (the dtype given at construction: mx.array of float64 data alone is float32)."""
    return mx.array(np.asarray(x, dtype=np.float64), dtype=DTYPES[dtype])


def to_numpy(a: mx.array) -> np.ndarray:
    """An evaluated array as NumPy (bfloat16, which NumPy lacks, through float32 to ml_dtypes.bfloat16)."""
    return np.array(a.astype(mx.float32)).astype(ml_dtypes.bfloat16) if a.dtype == mx.bfloat16 else np.array(a)


class MLXBatchNorm(BatchNormLayer):
    def __init__(self, cls: str, channels: int, dtype: str, native: dict):
        self.build, self.dtype = (cls, channels, dtype, native), dtype
        self.module = getattr(nn, cls)(channels, **native)
        if dtype == "float64":
            self.module.set_dtype(mx.float64)

    def _loss(self, x, dy):
        """L(params, x) = sum(dy * module(x)), the module updated with params first (nn.value_and_grad's construction)."""
        def loss(params, xa):
            self.module.update(params)
            return (self.module(xa) * dy).sum()
        return loss

    def forward(self, x, training):
        self.module.train(training)
        y = self.module(to_array(x, self.dtype))
        mx.eval(y, self.module.parameters())
        return to_numpy(y)

    def state(self):
        return {k: to_numpy(self.module[a]) if a in self.module else None for k, a in STATE.items()}

    def set_state(self, **arrays):
        self.module.update({STATE[k]: mx.array(np.asarray(v, np.float64), dtype=self.module[STATE[k]].dtype)
                            for k, v in arrays.items()})

    def freeze(self):
        self.module.freeze()

    def _grad(self, x, dy, training):
        """(dL/dparams over the trainable parameters, dL/dx) of one call."""
        self.module.train(training)
        xa, dya = to_array(x, self.dtype), to_array(dy, self.dtype)
        _, (grads, dx) = mx.value_and_grad(self._loss(xa, dya), argnums=(0, 1))(self.module.trainable_parameters(), xa)
        return grads, dx

    def gradients(self, x, dy, training):
        grads, dx = self._grad(x, dy, training)
        mx.eval(grads, dx, self.module.parameters())
        return {"x": to_numpy(dx), **{k: to_numpy(grads[a]) if a in grads else None for k, a in (("gamma", "weight"), ("beta", "bias"))}}

    def sgd_step(self, x, dy, lr, training):
        optimizer = optim.SGD(learning_rate=lr)
        grads, dx = self._grad(x, dy, training)
        optimizer.update(self.module, grads)
        mx.eval(dx, self.module.parameters(), optimizer.state)
        return to_numpy(dx)

    def reloaded(self):
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "weights.safetensors")
            self.module.save_weights(path)
            fresh = MLXBatchNorm(*self.build)
            fresh.module.load_weights(path)
            mx.eval(fresh.module.parameters())
        return fresh


class MLXDropout(DropoutLayer):
    def __init__(self, cls: str, dtype: str, native: dict):
        self.module, self.dtype = getattr(nn, cls)(**native), dtype

    def forward(self, x, training):
        self.module.train(training)
        y = self.module(to_array(x, self.dtype))
        mx.eval(y)
        return to_numpy(y)

    def forward_and_grad(self, x, dy):
        self.module.train(True)
        (y,), (dx,) = mx.vjp(self.module, [to_array(x, self.dtype)], [to_array(dy, self.dtype)])
        mx.eval(y, dx)
        return to_numpy(y), to_numpy(dx)


class MLXInstanceNorm(Layer):
    """nn.InstanceNorm(dims, eps, affine): weight and bias only with affine, no running statistics, no mode."""

    def __init__(self, cls: str, channels: int, dtype: str, native: dict):
        self.module, self.dtype = getattr(nn, cls)(channels, **native), dtype
        if dtype == "float64":
            self.module.set_dtype(mx.float64)

    def forward(self, x, training):
        self.module.train(training)
        y = self.module(to_array(x, self.dtype))
        mx.eval(y)
        return to_numpy(y)

    def forward_and_grad(self, x, dy, training):
        self.module.train(training)
        (y,), (dx,) = mx.vjp(self.module, [to_array(x, self.dtype)], [to_array(dy, self.dtype)])
        mx.eval(y, dx)
        return to_numpy(y), to_numpy(dx)

    def state(self):
        return {k: to_numpy(self.module[a]) if a in self.module else None for k, a in (("gamma", "weight"), ("beta", "bias"))}

    def set_state(self, **arrays):
        self.module.update({STATE[k]: mx.array(np.asarray(v, np.float64), dtype=self.module[STATE[k]].dtype)
                            for k, v in arrays.items()})


class MLXAdapter(Adapter):
    def __init__(self, flavour, device: str):
        if device != "cpu":
            raise DeviceUnavailable(f"--device {device}: the mlx flavour runs MLX's CPU backend (mlx[cpu]); its devices: cpu")
        mx.set_default_device(mx.cpu)
        super().__init__(flavour, device)

    def version(self):
        return mx.__version__

    def environment(self):
        return {"device": str(mx.default_device()), "execution": "lazy; mx.eval after each call and step"}

    def seed(self, seed):
        mx.random.seed(seed)

    def builders(self):
        return {"batchnorm": self.batchnorm, "instance_norm": self.instance_norm, "dropout": self.dropout,
                "models": self.models}

    def models(self, config):
        """The nested model of adapters.mlx_models."""
        from layerconf.adapters.mlx_models import MLXNestedModel
        return MLXNestedModel(config.kind, config.channels, config.native)

    def _class(self, section, config):
        return self.profile.layer_class(section, config.kind, config.layout)

    def batchnorm(self, config):
        return MLXBatchNorm(self._class("batchnorm", config), config.channels, config.dtype, config.native)

    def instance_norm(self, config):
        return MLXInstanceNorm(self._class("instance_norm", config), config.channels, config.dtype, config.native)

    def dropout(self, config):
        return MLXDropout(self._class("dropout", config), config.dtype, config.native)


def make_adapter(flavour, device: str = "cpu") -> MLXAdapter:
    return MLXAdapter(flavour, device)
