"""MLX: layers inside models (profile models, adapters.base.NestedModel).

An mlx.nn.Module whose ``base`` holds BatchNorm and Dropout in the case's container (nn.Sequential, a Python list,
a Python dict: mlx.nn.Module finds modules in list and dict attributes) under an nn.Linear head. The mode is
Module.train()/eval() on the model or its base; the state is model.parameters() (the running statistics are frozen
entries of it); freezing is model.base.freeze(), and nn.value_and_grad differentiates the trainable parameters only,
which mlx.optimizers.SGD updates; saving is save_weights and load_weights into a fresh model.
"""
import tempfile
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

from layerconf.adapters.base import NestedModel, container, through

ENTRIES = {"sequential": "layers.0", "list": "0", "dict": "bn"}
NAMES = {"running_mean": "running_mean", "running_var": "running_var", "gamma": "weight", "beta": "bias"}


class Base(nn.Module):
    def __init__(self, kind: str, channels: int, native: dict):
        super().__init__()
        self.kind = kind
        bn, drop = nn.BatchNorm(channels, **native["batchnorm"]), nn.Dropout(**native["dropout"])
        self.blocks = container(kind, {"sequential": nn.Sequential, "list": list, "dict": dict}, bn, drop)

    def __call__(self, x):
        return through(self.kind, self.blocks, x)


class Model(nn.Module):
    def __init__(self, kind: str, channels: int, native: dict):
        super().__init__()
        self.base = Base(kind, channels, native)
        self.head = nn.Linear(channels, 1)

    def __call__(self, x):
        h = self.base(x)
        return h, self.head(h)


def _loss(model, x, t):
    h, p = model(x)
    return nn.losses.mse_loss(p, t, reduction="mean"), h


class MLXNestedModel(NestedModel):
    def __init__(self, kind: str, channels: int, native: dict):
        self.build = (kind, channels, native)
        self.model = Model(kind, channels, native)
        mx.eval(self.model.parameters())
        bn = f"base.blocks.{ENTRIES[kind]}."
        self.names = {**{key: bn + name for key, name in NAMES.items()}, "kernel": "head.weight", "bias": "head.bias"}

    @staticmethod
    def _array(x):
        return mx.array(np.asarray(x, dtype=np.float32))

    def set_mode(self, training, part="model"):
        (self.model if part == "model" else getattr(self.model, part)).train(training)

    def run(self, x):
        h, p = self.model(self._array(x))
        mx.eval(h, p, self.model.parameters())
        return np.array(h), np.array(p)

    def state_names(self):
        return dict(self.names)

    def state(self):
        flat = dict(tree_flatten(self.model.parameters()))
        out = {key: np.array(flat[name]) for key, name in self.names.items()}
        out["kernel"] = out["kernel"].T.copy()
        return out

    def set_state(self, **arrays):
        weights = [(self.names[key], self._array(np.asarray(v).T if key == "kernel" else v)) for key, v in arrays.items()]
        self.model.load_weights(weights, strict=False)
        mx.eval(self.model.parameters())

    def freeze_base(self):
        self.model.base.freeze()

    def sgd_step(self, x, t, lr):
        optimizer = optim.SGD(learning_rate=lr)
        (loss, h), grads = nn.value_and_grad(self.model, _loss)(self.model, self._array(x), self._array(t))
        optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), optimizer.state, loss, h)
        return np.array(h), float(loss)

    def pitfall(self):
        self.model.train()   # the start of each epoch's loop, after base.eval()

    def reloaded(self):
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "model.safetensors")
            self.model.save_weights(path)
            fresh = MLXNestedModel(*self.build)
            fresh.model.load_weights(path)
            mx.eval(fresh.model.parameters())
        return fresh
