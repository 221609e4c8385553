"""Flax linen: layers inside models (profile models, adapters.base.NestedModel).

A linen Module ``Model`` whose submodule ``base`` holds nn.BatchNorm and nn.Dropout in the case's container under an
nn.Dense head. Linen modules hold no mode: the flag is a call argument passed down the way linen users write it:
``Model.__call__(x, train, base_train=None)`` calls ``base(x, train=<base_train if given, else train>)``. The
containers: an nn.Sequential built inline in a compact ``__call__`` whose layers take the flag at construction
(``nn.BatchNorm(use_running_average=not train)``, ``nn.Dropout(deterministic=not train)``, the pattern of linen's
BatchNorm and Dropout guides; nn.Sequential hands call arguments to its first layer only), a list and a dict of
submodules defined in ``setup`` and called with ``use_running_average=`` / ``deterministic=``. The state is the
variables (``params`` and ``batch_stats``), a training call ``apply(..., mutable=['batch_stats'])``; freezing is
optax.multi_transform with set_to_zero on the base's params; saving is flax.serialization's to_bytes/from_bytes.
Under flax-linen-jit the call and the step are each compiled by jax.jit (the module and the flags static).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax import serialization, traverse_util

from layerconf.adapters import _jax
from layerconf.adapters.base import NestedModel

NAMES = {"running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var"),
         "gamma": ("params", "scale"), "beta": ("params", "bias")}


class SequentialBase(nn.Module):
    """nn.Sequential inline in a compact method, the flag given to each layer at construction."""
    bn: tuple
    rate: float

    @nn.compact
    def __call__(self, x, train: bool):
        return nn.Sequential([nn.BatchNorm(use_running_average=not train, **dict(self.bn)),
                              nn.Dropout(self.rate, deterministic=not train)], name="blocks")(x)


class ListBase(nn.Module):
    """A list of submodules in setup, the flag given at each call."""
    bn: tuple
    rate: float

    def setup(self):
        self.blocks = [nn.BatchNorm(**dict(self.bn)), nn.Dropout(self.rate)]

    def __call__(self, x, train: bool):
        x = self.blocks[0](x, use_running_average=not train)
        return self.blocks[1](x, deterministic=not train)


class DictBase(nn.Module):
    """A dict of submodules in setup, the flag given at each call."""
    bn: tuple
    rate: float

    def setup(self):
        self.blocks = {"bn": nn.BatchNorm(**dict(self.bn)), "drop": nn.Dropout(self.rate)}

    def __call__(self, x, train: bool):
        x = self.blocks["bn"](x, use_running_average=not train)
        return self.blocks["drop"](x, deterministic=not train)


BASES = {"sequential": SequentialBase, "list": ListBase, "dict": DictBase}


class Model(nn.Module):
    kind: str
    bn: tuple
    rate: float

    @nn.compact
    def __call__(self, x, train: bool, base_train: bool | None = None):
        """base_train None: the base is called with the model's flag; True/False: with that one."""
        h = BASES[self.kind](self.bn, self.rate, name="base")(x, train=train if base_train is None else base_train)
        return h, nn.Dense(1, name="head")(h)


def _run(model, variables, x, key, train: bool, base_train):
    """((features, prediction), batch_stats): a training call (the model's flag) makes batch_stats mutable."""
    if train:
        out, updates = model.apply(variables, x, train, base_train, rngs={"dropout": key}, mutable=["batch_stats"])
        return out, updates["batch_stats"]
    return model.apply(variables, x, train, base_train, rngs={"dropout": key}), variables["batch_stats"]


def _step(model, variables, opt_state, x, t, key, train: bool, base_train, tx):
    """One step of tx on mse(prediction, t) over params: (variables after, features, loss)."""
    def loss(params):
        (h, p), stats = _run(model, {**variables, "params": params}, x, key, train, base_train)
        return jnp.mean((p - t) ** 2), (h, stats)

    (value, (h, stats)), grads = jax.value_and_grad(loss, has_aux=True)(variables["params"])
    updates, _ = tx.update(grads, opt_state, variables["params"])
    return {"params": optax.apply_updates(variables["params"], updates), "batch_stats": stats}, h, value


JIT = {_run: jax.jit(_run, static_argnames=("model", "train", "base_train")),
       _step: jax.jit(_step, static_argnames=("model", "train", "base_train", "tx"))}


@functools.cache
def _tx(lr: float, frozen: bool):
    """optax.sgd(lr), or with the base frozen optax.multi_transform(sgd for the rest, set_to_zero for the base's
    params), labelled by traverse_util.path_aware_map; one object per configuration (static under jit)."""
    if not frozen:
        return optax.sgd(lr)

    def labels(params):
        return traverse_util.path_aware_map(lambda path, _: "frozen" if path[0] == "base" else "trainable", params)
    return optax.multi_transform({"trainable": optax.sgd(lr), "frozen": optax.set_to_zero()}, labels)


def make(jit: bool, kind: str, channels: int, native: dict, next_key) -> NestedModel:
    """The nested model of the case (native: {"batchnorm": {...}, "dropout": {"rate": ...}})."""
    call = _jax.calls(jit, JIT)
    module = Model(kind, tuple(sorted(native["batchnorm"].items())), float(native["dropout"]["rate"]))
    entry = {"sequential": ("BatchNorm_0",), "list": ("blocks_0",), "dict": ("blocks_bn",)}[kind]

    class _Nested(NestedModel):
        def __init__(self):
            self.variables = module.init(jax.random.key(0), _jax.to_jax(np.zeros((2, channels)), "float32"), False)
            self.train, self.base_train, self.frozen = True, None, False
            self.paths = {**{key: (collection, "base", *entry, name) for key, (collection, name) in NAMES.items()},
                          "kernel": ("params", "head", "kernel"), "bias": ("params", "head", "bias")}

        def set_mode(self, training, part="model"):
            if part == "model":
                self.train = training
            else:
                self.base_train = training

        def _args(self):
            return {"train": self.train, "base_train": self.base_train}

        def run(self, x):
            (h, p), stats = call(_run)(model=module, variables=self.variables, x=_jax.to_jax(x, "float32"),
                                       key=next_key(), **self._args())
            self.variables = {**self.variables, "batch_stats": stats}
            return _jax.to_numpy(h), _jax.to_numpy(p)

        def state_names(self):
            return {key: "/".join(path) for key, path in self.paths.items()}

        def state(self):
            flat = traverse_util.flatten_dict(self.variables)
            return {key: np.array(flat[path]) for key, path in self.paths.items()}

        def set_state(self, **arrays):
            flat = traverse_util.flatten_dict(self.variables)
            for key, value in arrays.items():
                flat[self.paths[key]] = _jax.to_jax(value, "float32")
            self.variables = traverse_util.unflatten_dict(flat)

        def freeze_base(self):
            self.frozen = True

        def sgd_step(self, x, t, lr):
            tx = _tx(lr, self.frozen)
            self.variables, h, loss = call(_step)(
                model=module, variables=self.variables, opt_state=tx.init(self.variables["params"]),
                x=_jax.to_jax(x, "float32"), t=_jax.to_jax(t, "float32"), key=next_key(), tx=tx, **self._args())
            return _jax.to_numpy(h), float(loss)

        def pitfall(self):
            # the base called with the model's flag: Model.__call__ written without the base's train=False override
            self.base_train = None

        def reloaded(self):
            saved = serialization.to_bytes(self.variables)
            fresh = make(jit, kind, channels, native, next_key)
            fresh.variables = serialization.from_bytes(fresh.variables, saved)
            return fresh

    return _Nested()
