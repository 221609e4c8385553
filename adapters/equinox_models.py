"""Equinox: layers inside models (profile models, adapters.base.NestedModel).

An eqx.Module whose ``base`` holds eqx.nn.BatchNorm and eqx.nn.Dropout in the case's container (eqx.nn.Sequential,
a Python list, a Python dict: every pytree node is walked by eqx.nn.inference_mode) under an eqx.nn.Linear head,
built by ``eqx.nn.make_with_state`` so the nested BatchNorm's running statistics live in one eqx.nn.State. The model
is called per example under ``jax.vmap(model, axis_name="batch", in_axes=(0, None, 0), out_axes=(0, None))``, one
Dropout key per example split off the adapter's key per call. The mode is ``eqx.nn.inference_mode`` on the model, or
on ``model.base`` replaced with ``eqx.tree_at``; freezing is the filter spec of ``eqx.partition`` with the base's
leaves False (Equinox's frozen-layer example); the step is ``eqx.filter_value_and_grad``, ``optax.sgd`` (one object per rate) and
``eqx.apply_updates``; saving is ``eqx.tree_serialise_leaves`` of (model, state) into a fresh (model, state).

The BatchNorm's mode ("batch" or "ema") is the adapter's (profile batchnorm.training_statistics); under equinox-jit
the vmapped call and the step are each compiled by ``eqx.filter_jit``.
"""
import io

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu

from layerconf.adapters import _jax
from layerconf.adapters.base import NestedModel
from layerconf.adapters.equinox import _sgd

AXIS = "batch"
ENTRIES = {"sequential": "blocks.layers[0]", "list": "blocks[0]", "dict": "blocks['bn']"}


class Base(eqx.Module):
    """The base: a container of BatchNorm then Dropout, called the way users call each container."""
    blocks: object
    kind: str = eqx.field(static=True)

    def __init__(self, kind: str, channels: int, native: dict, mode: dict):
        bn, drop = eqx.nn.BatchNorm(channels, AXIS, **native["batchnorm"], **mode, dtype=jnp.float32), eqx.nn.Dropout(**native["dropout"])
        if kind == "sequential":
            self.blocks = eqx.nn.Sequential([bn, drop])
        elif kind == "list":
            self.blocks = [bn, drop]
        elif kind == "dict":
            self.blocks = {"bn": bn, "drop": drop}
        else:
            raise ValueError(f"no container kind {kind!r}")
        self.kind = kind

    def bn(self):
        return {"sequential": lambda: self.blocks.layers[0], "list": lambda: self.blocks[0],
                "dict": lambda: self.blocks["bn"]}[self.kind]()

    def __call__(self, x, state, key):
        if self.kind == "sequential":
            return self.blocks(x, state, key=key)
        bn, drop = self.blocks if self.kind == "list" else (self.blocks["bn"], self.blocks["drop"])
        x, state = bn(x, state)
        return drop(x, key=key), state


class Model(eqx.Module):
    base: Base
    head: eqx.nn.Linear

    def __init__(self, kind: str, channels: int, native: dict, mode: dict):
        self.base = Base(kind, channels, native, mode)
        self.head = eqx.nn.Linear(channels, 1, dtype=jnp.float32, key=jax.random.PRNGKey(1))

    def __call__(self, x, state, key):
        h, state = self.base(x, state, key)
        return (h, self.head(h)), state


def _run(model, state, x, key):
    """((features, prediction), state after the call): the model vmapped over the batch, one key per example."""
    keys = jax.random.split(key, x.shape[0])
    return jax.vmap(model, axis_name=AXIS, in_axes=(0, None, 0), out_axes=(0, None))(x, state, keys)


def _step(diff, static, state, opt_state, x, t, key, optim):
    """One step on mse(prediction, t) over the trainable part: (model, features, loss, state)."""
    def loss(diff):
        (h, p), new_state = _run(eqx.combine(diff, static), state, x, key)
        return jnp.mean((p - t) ** 2), (h, new_state)

    (value, (h, state)), grads = eqx.filter_value_and_grad(loss, has_aux=True)(diff)
    updates, _ = optim.update(grads, opt_state)
    return eqx.apply_updates(eqx.combine(diff, static), updates), h, value, state


JIT = {f: eqx.filter_jit(f) for f in (_run, _step)}


def make(jit: bool, bn_mode: str, kind: str, channels: int, native: dict, next_key, ema_only: bool) -> NestedModel:
    """The nested model of the case; ``bn_mode`` 'batch' or 'ema' (no mode argument before equinox 0.13)."""
    call = _jax.calls(jit, JIT)
    mode = {} if ema_only else {"mode": bn_mode}

    class _Nested(NestedModel):
        def __init__(self):
            self.model, self.state_ = eqx.nn.make_with_state(Model)(kind, channels, native, mode)
            self.spec = jtu.tree_map(eqx.is_inexact_array, self.model)
            bn = self.model.base.bn()
            if bn_mode == "batch":
                self.index, self.first_time, index = bn.batch_state_index, None, "batch_state_index"
            else:
                prefix = "" if ema_only else "ema_"
                self.index, self.first_time = (getattr(bn, prefix + k) for k in ("state_index", "first_time_index"))
                index = prefix + "state_index"
            at = f"model.base.{ENTRIES[kind]}"
            self.names = {"running_mean": f"state.get({at}.{index})[0]", "running_var": f"state.get({at}.{index})[1]",
                          "gamma": f"{at}.weight", "beta": f"{at}.bias", "kernel": "model.head.weight.T",
                          "bias": "model.head.bias"}

        def set_mode(self, training, part="model"):
            if part == "model":
                self.model = eqx.nn.inference_mode(self.model, value=not training)
            else:
                self.model = eqx.tree_at(lambda m: getattr(m, part), self.model,
                                         eqx.nn.inference_mode(getattr(self.model, part), value=not training))

        def run(self, x):
            (h, p), self.state_ = call(_run)(self.model, self.state_, _jax.to_jax(x, "float32"), next_key())
            return _jax.to_numpy(h), _jax.to_numpy(p)

        def state_names(self):
            return dict(self.names)

        def state(self):
            mean, var = self.state_.get(self.index)
            bn = self.model.base.bn()
            return {"running_mean": _jax.to_numpy(mean), "running_var": _jax.to_numpy(var),
                    "gamma": _jax.to_numpy(bn.weight), "beta": _jax.to_numpy(bn.bias),
                    "kernel": _jax.to_numpy(self.model.head.weight).T.copy(), "bias": _jax.to_numpy(self.model.head.bias)}

        def set_state(self, **arrays):
            value = {k: _jax.to_jax(v, "float32") for k, v in arrays.items()}
            mean, var = self.state_.get(self.index)
            self.state_ = self.state_.set(self.index, (value.get("running_mean", mean), value.get("running_var", var)))
            if self.first_time is not None and {"running_mean", "running_var"} & value.keys():
                self.state_ = self.state_.set(self.first_time, jnp.array(False))   # a trained State's flag
            where = {"gamma": lambda m: m.base.bn().weight, "beta": lambda m: m.base.bn().bias,
                     "kernel": lambda m: m.head.weight, "bias": lambda m: m.head.bias}
            for key, array in value.items():
                if key in where:
                    self.model = eqx.tree_at(where[key], self.model, array.T if key == "kernel" else array)

        def freeze_base(self):
            """Equinox's frozen-layer recipe: the filter spec of eqx.partition marks every leaf of the base False."""
            self.spec = eqx.tree_at(lambda s: s.base, self.spec, replace=jtu.tree_map(lambda _: False, self.spec.base))

        def sgd_step(self, x, t, lr):
            optim = _sgd(lr)
            diff, static = eqx.partition(self.model, self.spec)
            self.model, h, loss, self.state_ = call(_step)(
                diff, static, self.state_, optim.init(diff), _jax.to_jax(x, "float32"), _jax.to_jax(t, "float32"),
                next_key(), optim)
            return _jax.to_numpy(h), float(loss)

        def pitfall(self):
            # the training loop switches back to training with the whole model, as inference_mode's docstring does
            # (training_model_again = eqx.nn.inference_mode(inference_model, value=False)), after the base's recipe
            self.model = eqx.nn.inference_mode(self.model, value=False)

        def reloaded(self):
            saved = io.BytesIO()
            eqx.tree_serialise_leaves(saved, (self.model, self.state_))
            saved.seek(0)
            fresh = make(jit, bn_mode, kind, channels, native, next_key, ema_only)
            fresh.model, fresh.state_ = eqx.tree_deserialise_leaves(saved, (fresh.model, fresh.state_))
            return fresh

    return _Nested()
