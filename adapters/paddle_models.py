"""PaddlePaddle: layers inside models (profile models, adapters.base.NestedModel).

A paddle.nn.Layer whose ``base`` sublayer holds BatchNorm1D and Dropout in the case's container (paddle.nn.Sequential,
LayerList, LayerDict) under a paddle.nn.Linear head. The mode is Layer.train()/eval() on the model or its base; the
state is the model's state_dict() (the BatchNorm's ``_mean`` and ``_variance``); freezing is stop_gradient = True on
the base's parameters with paddle.optimizer.SGD over those still trainable; saving is paddle.save(state_dict) and
set_state_dict into a fresh model.
"""
import io

import numpy as np
import paddle
from paddle import nn

from layerconf.adapters.base import NestedModel, container, through

ENTRIES = {"sequential": "0", "list": "0", "dict": "bn"}
NAMES = {"running_mean": "_mean", "running_var": "_variance", "gamma": "weight", "beta": "bias"}


class Base(nn.Layer):
    def __init__(self, kind: str, channels: int, native: dict):
        super().__init__()
        self.kind = kind
        bn, drop = nn.BatchNorm1D(channels, **native["batchnorm"]), nn.Dropout(**native["dropout"])
        self.blocks = container(kind, {"sequential": nn.Sequential, "list": nn.LayerList, "dict": nn.LayerDict}, bn, drop)

    def forward(self, x):
        return through(self.kind, self.blocks, x)


class Model(nn.Layer):
    def __init__(self, kind: str, channels: int, native: dict):
        super().__init__()
        self.base = Base(kind, channels, native)
        self.head = nn.Linear(channels, 1)

    def forward(self, x):
        h = self.base(x)
        return h, self.head(h)


class PaddleNestedModel(NestedModel):
    def __init__(self, kind: str, channels: int, native: dict):
        self.build = (kind, channels, native)
        self.model = Model(kind, channels, native)
        bn = f"base.blocks.{ENTRIES[kind]}."
        self.names = {**{key: bn + name for key, name in NAMES.items()}, "kernel": "head.weight", "bias": "head.bias"}

    @staticmethod
    def _tensor(x):
        return paddle.to_tensor(np.asarray(x, dtype=np.float32))

    def set_mode(self, training, part="model"):
        layer = self.model if part == "model" else getattr(self.model, part)
        layer.train() if training else layer.eval()

    def run(self, x):
        with paddle.no_grad():
            h, p = self.model(self._tensor(x))
        return h.numpy(), p.numpy()

    def state_names(self):
        return dict(self.names)

    def state(self):
        sd = self.model.state_dict()
        return {key: np.array(sd[name].numpy()) for key, name in self.names.items()}

    def set_state(self, **arrays):
        sd = self.model.state_dict()
        sd.update({self.names[key]: self._tensor(v) for key, v in arrays.items()})
        self.model.set_state_dict(sd)

    def freeze_base(self):
        for p in self.model.base.parameters():
            p.stop_gradient = True

    def sgd_step(self, x, t, lr):
        optimizer = paddle.optimizer.SGD(learning_rate=lr, parameters=[p for p in self.model.parameters() if not p.stop_gradient])
        optimizer.clear_grad()
        h, p = self.model(self._tensor(x))
        loss = nn.functional.mse_loss(p, self._tensor(t))
        loss.backward()
        optimizer.step()
        return h.numpy(), float(loss.numpy())

    def pitfall(self):
        self.model.train()   # the start of each epoch's loop, after base.eval()

    def reloaded(self):
        buffer = io.BytesIO()
        paddle.save(self.model.state_dict(), buffer)
        buffer.seek(0)
        fresh = PaddleNestedModel(*self.build)
        fresh.model.set_state_dict(paddle.load(buffer))
        return fresh
