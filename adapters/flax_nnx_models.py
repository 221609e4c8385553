"""Flax nnx: layers inside models (profile models, adapters.base.NestedModel), eager.

An nnx.Module whose ``base`` holds nnx.BatchNorm and nnx.Dropout in the case's container (nnx.Sequential, nnx.List,
nnx.Dict) under an nnx.Linear head. The mode is nnx's Module.train()/eval() on the model or its base (they set
use_running_average and deterministic on every submodule); the state is nnx.state(model) (the BatchNorm's mean and
var are nnx.BatchStat); freezing is the optimizer's and the gradient's filter, nnx.All(nnx.Param,
nnx.Not(nnx.PathContains('base'))); saving is nnx.state's pure dict (less the rng state) through flax.serialization's msgpack, restored
with nnx.replace_by_pure_dict and nnx.update into a fresh model.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, serialization

from layerconf.adapters import _jax
from layerconf.adapters.base import NestedModel, container, through

NAMES = {"running_mean": "mean", "running_var": "var", "gamma": "scale", "beta": "bias"}
ENTRIES = {"sequential": ("layers", 0), "list": (0,), "dict": ("bn",)}
TRAINABLE = nnx.Param
SAVED = nnx.Not(nnx.RngState)   # the weights and batch statistics; the Dropout's rng key and count are no array msgpack takes
FROZEN_BASE = nnx.All(nnx.Param, nnx.Not(nnx.PathContains("base")))


class Base(nnx.Module):
    def __init__(self, kind: str, channels: int, native: dict, seed: int):
        self.kind = kind
        bn = nnx.BatchNorm(channels, **native["batchnorm"], rngs=nnx.Rngs(0))
        drop = nnx.Dropout(**native["dropout"], rngs=nnx.Rngs(dropout=seed))
        self.blocks = container(kind, {"sequential": nnx.Sequential, "list": nnx.List, "dict": nnx.Dict}, bn, drop)

    def __call__(self, x):
        return through(self.kind, self.blocks, x)


class Model(nnx.Module):
    def __init__(self, kind: str, channels: int, native: dict, seed: int):
        self.base = Base(kind, channels, native, seed)
        self.head = nnx.Linear(channels, 1, rngs=nnx.Rngs(1))

    def __call__(self, x):
        h = self.base(x)
        return h, self.head(h)


def _loss(model, x, t):
    h, p = model(x)
    return jnp.mean((p - t) ** 2), h


def make(kind: str, channels: int, native: dict, seed: int) -> NestedModel:
    """The nested model of the case, its Dropout's rng stream seeded with ``seed``."""

    class _Nested(NestedModel):
        def __init__(self):
            self.model, self.wrt = Model(kind, channels, native, seed), TRAINABLE
            path = ("base", "blocks", *ENTRIES[kind])
            self.paths = {**{key: (*path, name) for key, name in NAMES.items()},
                          "kernel": ("head", "kernel"), "bias": ("head", "bias")}

        def _variable(self, key):
            node = self.model
            for step in self.paths[key][:-1]:
                node = node[step] if isinstance(step, int) or isinstance(node, nnx.Dict) else getattr(node, step)
            return getattr(node, self.paths[key][-1])

        def set_mode(self, training, part="model"):
            node = self.model if part == "model" else getattr(self.model, part)
            node.train() if training else node.eval()

        def run(self, x):
            h, p = self.model(_jax.to_jax(x, "float32"))
            return np.asarray(h), np.asarray(p)

        def state_names(self):
            return {key: ".".join(map(str, p)) for key, p in self.paths.items()}

        def state(self):
            flat = dict(nnx.to_flat_state(nnx.state(self.model)))
            return {key: np.array(flat[p][...]) for key, p in self.paths.items()}

        def set_state(self, **arrays):
            for key, value in arrays.items():
                variable = self._variable(key)
                new = _jax.to_jax(value, "float32")
                variable.set_value(new) if hasattr(variable, "set_value") else setattr(variable, "value", new)

        def freeze_base(self):
            self.wrt = FROZEN_BASE

        def sgd_step(self, x, t, lr):
            optimizer = nnx.Optimizer(self.model, optax.sgd(lr), wrt=self.wrt)
            x, t = _jax.to_jax(x, "float32"), _jax.to_jax(t, "float32")
            (loss, h), grads = nnx.value_and_grad(_loss, argnums=nnx.DiffState(0, self.wrt), has_aux=True)(self.model, x, t)
            optimizer.update(self.model, grads)
            return np.asarray(h), float(loss)

        def pitfall(self):
            self.model.train()   # the start of each epoch's loop, after model.base.eval()

        def reloaded(self):
            saved = serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(self.model, SAVED)))
            fresh = make(kind, channels, native, seed)
            state = nnx.state(fresh.model, SAVED)
            nnx.replace_by_pure_dict(state, jax.tree.map(jnp.asarray, serialization.msgpack_restore(saved)))
            nnx.update(fresh.model, state)
            return fresh

    return _Nested()
