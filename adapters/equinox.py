"""Equinox: eqx.nn.BatchNorm(mode="batch") with an explicit eqx.nn.State, eqx.nn.Dropout with explicit keys.

As Equinox's stateful example runs it: ``eqx.nn.make_with_state(eqx.nn.BatchNorm)(C, "batch", mode="batch", ...)``,
the layer called per example (channel first) under ``jax.vmap(layer, axis_name="batch", in_axes=(0, None),
out_axes=(0, None))`` with the state unbatched; the mode is the ``inference`` attribute, set by
``eqx.nn.inference_mode(layer, value)``. Gradients are ``eqx.filter_grad`` of L = sum(dy * y) over
``eqx.partition(layer, spec)`` (freezing: the filter spec marks weight and bias False, Equinox's frozen-layer
recipe), the step ``optax.sgd`` then ``eqx.apply_updates``; saving is ``eqx.tree_serialise_leaves`` of
(layer, state) into a fresh (layer, state). Dropout takes a key split off the adapter's key per call.

Three flavours: equinox calls the functions below eagerly (no jit); equinox-jit calls each under
``eqx.filter_jit`` (arrays traced, everything else static), as Equinox training steps run; equinox-ema builds
``mode="ema"`` (its profile's ``training_statistics: updated_running``) and calls eagerly. In mode "ema" the State
holds the running statistics and a first-time flag; setting running statistics also clears the flag, as in the
State of a trained layer (which tree_deserialise_leaves restores), so the next training call updates them.
"""
import functools
import io

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import optax

from layerconf.adapters import _jax
from layerconf.adapters.base import Adapter, AttentionLayer, BatchNormLayer, DropoutLayer

AXIS = "batch"   # the vmapped batch axis the layer's axis_name names
# BatchNorm's mode by the profile's training convention: "batch" normalises training calls with the batch
# statistics (the mode Equinox advises for new code), "ema" with the updated running statistics
MODES = {"batch": "batch", "updated_running": "ema"}
# before 0.13.0 BatchNorm has no mode argument: its one algorithm is what 0.13 calls "ema"
EMA_ONLY = tuple(int(p) for p in eqx.__version__.split(".")[:2]) < (0, 13)
CHANNEL_FIRST = ("NC", "NCL", "NCHW", "NCDHW")   # per example (C, dim_1, ..., dim_N): the layer's only layout


def _forward(bn, state, x, training: bool):
    """(y, state after the call): the layer in the mode given, vmapped over the batch with its axis_name."""
    bn = eqx.nn.inference_mode(bn, value=not training)
    return jax.vmap(bn, axis_name=AXIS, in_axes=(0, None), out_axes=(0, None))(x, state)


def _grads(diff, static, state, x, dy, training: bool):
    """(dL/d diff, dL/dx, state after the call) by eqx.filter_grad of L = sum(dy * y), diff and x differentiated."""
    def loss(diff_and_x, static, state):
        diff, x = diff_and_x
        y, state = _forward(eqx.combine(diff, static), state, x, training)
        return _jax.weighted_sum(y, dy), state

    (dlayer, dx), state = eqx.filter_grad(loss, has_aux=True)((diff, x), static, state)
    return dlayer, dx, state


def _sgd_step(diff, static, state, opt_state, x, dy, training: bool, optim):
    """One training step: the gradients, optim.update, eqx.apply_updates; returns (layer, dL/dx, state)."""
    dlayer, dx, state = _grads(diff, static, state, x, dy, training)
    updates, _ = optim.update(dlayer, opt_state)
    return eqx.apply_updates(eqx.combine(diff, static), updates), dx, state


def _dropout(layer, x, key, training: bool):
    return eqx.nn.inference_mode(layer, value=not training)(x, key=key)


def _dropout_value_and_grad(layer, x, dy, key):
    """(y, dL/dx) of a training call, L = sum(dy * y), by eqx.filter_value_and_grad over x."""
    def loss(x):
        y = layer(x, key=key)
        return _jax.weighted_sum(y, dy), y

    (_, y), dx = eqx.filter_value_and_grad(loss, has_aux=True)(x)
    return y, dx


EXAMPLE = "example"   # the inner vmap's axis in a replica; the layer's axis_name is (EXAMPLE, the replicas' axis)


def _replica_bn(static, state, x, mask, key, training: bool):
    """One replica's step (adapters/jax_replicas.py): BatchNorm(C, axis_name=('example', 'batch'), mode='batch')
    built with its State, weight, bias and statistics set from the neutral state, vmapped over the replica's
    examples with axis_name 'example'; the lax.pmean-s run over both named axes."""
    from layerconf.adapters.jax_replicas import AXIS
    channels, dtype, native = static
    layer = eqx.nn.BatchNorm(channels, (EXAMPLE, AXIS), **dict(native), dtype=_jax.DTYPES[dtype], mode="batch")
    layer = eqx.tree_at(lambda b: (b.weight, b.bias, b.batch_state_index.init, b.batch_counter.init), layer,
                        (state["gamma"], state["beta"], (state["running_mean"], state["running_var"]),
                         state["batch_counter"]))   # the State's step count, which inference debiases by
    st = eqx.nn.State(layer)   # as make_with_state builds it, from the layer's state indices
    layer = eqx.nn.inference_mode(layer, value=not training)
    y, st = jax.vmap(layer, axis_name=EXAMPLE, in_axes=(0, None), out_axes=(0, None))(x, st)
    mean, var = st.get(layer.batch_state_index)
    return y, {**state, "running_mean": mean, "running_var": var, "batch_counter": st.get(layer.batch_counter)}


def _replica_dropout(static, state, x, mask, key, training: bool):
    """One replica's eqx.nn.Dropout call with the replica's key."""
    return _dropout(eqx.nn.Dropout(**dict(static)), x, key, training), state


JIT = {f: eqx.filter_jit(f) for f in (_forward, _grads, _sgd_step, _dropout, _dropout_value_and_grad)}


@functools.cache
def _sgd(lr: float):
    """optax.sgd(lr), one object per rate, so a compiled step (where it is static) is traced once."""
    return optax.sgd(lr)


class EqxBatchNorm(BatchNormLayer):
    def __init__(self, call, mode: str, layout: str, channels: int, dtype: str, native: dict):
        if layout not in CHANNEL_FIRST:
            raise ValueError(f"eqx.nn.BatchNorm takes (C, dim_1, ...) per example: layout {layout!r} is not channel first")
        self.call, self.build, self.dtype = call, (call, mode, layout, channels, dtype, native), dtype
        self.layer, self.state_ = eqx.nn.make_with_state(eqx.nn.BatchNorm)(
            channels, AXIS, **native, dtype=_jax.DTYPES[dtype], **({} if EMA_ONLY else {"mode": mode}))
        if mode == "batch":
            self.index, self.first_time = self.layer.batch_state_index, None
        else:   # before 0.13 the same state without the ema_ prefix
            prefix = "" if EMA_ONLY else "ema_"
            self.index, self.first_time = (getattr(self.layer, prefix + k) for k in ("state_index", "first_time_index"))
        self.spec = jtu.tree_map(eqx.is_inexact_array, self.layer)   # what eqx.partition differentiates

    def _x(self, x):
        return _jax.to_jax(x, self.dtype)

    def forward(self, x, training):
        y, self.state_ = self.call(_forward)(self.layer, self.state_, self._x(x), training)
        return _jax.to_numpy(y)

    def state(self):
        mean, var = self.state_.get(self.index)
        return {"running_mean": _jax.to_numpy(mean), "running_var": _jax.to_numpy(var),
                "gamma": None if self.layer.weight is None else _jax.to_numpy(self.layer.weight),
                "beta": None if self.layer.bias is None else _jax.to_numpy(self.layer.bias)}

    def set_state(self, **arrays):
        as_layer = lambda v: _jax.to_jax(v, self.dtype)  # noqa: E731
        mean, var = self.state_.get(self.index)
        mean, var = (as_layer(arrays[k]) if k in arrays else v for k, v in (("running_mean", mean), ("running_var", var)))
        self.state_ = self.state_.set(self.index, (mean, var))
        if self.first_time is not None and {"running_mean", "running_var"} & arrays.keys():
            self.state_ = self.state_.set(self.first_time, jnp.array(False))
        for key, field in (("gamma", "weight"), ("beta", "bias")):
            if key in arrays:
                self.layer = eqx.tree_at(lambda b, f=field: getattr(b, f), self.layer, as_layer(arrays[key]))

    def freeze(self):
        """Equinox's frozen-layer recipe: the filter spec of eqx.partition marks weight and bias False."""
        if self.layer.weight is not None:
            self.spec = eqx.tree_at(lambda s: (s.weight, s.bias), self.spec, replace=(False, False))

    def _partition(self):
        return eqx.partition(self.layer, self.spec)

    def gradients(self, x, dy, training):
        """The statistics move in training, as in a training step."""
        dlayer, dx, self.state_ = self.call(_grads)(*self._partition(), self.state_, self._x(x), self._x(dy), training)
        grad = lambda g: None if g is None else _jax.to_numpy(g)  # noqa: E731
        return {"x": _jax.to_numpy(dx), "gamma": grad(dlayer.weight), "beta": grad(dlayer.bias)}

    def sgd_step(self, x, dy, lr, training):
        optim = _sgd(lr)
        opt_state = optim.init(eqx.filter(self.layer, eqx.is_inexact_array))
        self.layer, dx, self.state_ = self.call(_sgd_step)(*self._partition(), self.state_, opt_state, self._x(x),
                                                           self._x(dy), training, optim)
        return _jax.to_numpy(dx)

    def reloaded(self):
        saved = io.BytesIO()
        eqx.tree_serialise_leaves(saved, (self.layer, self.state_))
        saved.seek(0)
        fresh = EqxBatchNorm(*self.build)
        fresh.layer, fresh.state_ = eqx.tree_deserialise_leaves(saved, (fresh.layer, fresh.state_))
        return fresh


class EqxDropout(DropoutLayer):
    def __init__(self, call, dtype: str, native: dict, next_key):
        self.call, self.dtype, self.next_key = call, dtype, next_key
        self.layer = eqx.nn.Dropout(**native)

    def forward(self, x, training):
        """A key in both modes: a model is called the same way in training and under eqx.nn.inference_mode."""
        return _jax.to_numpy(self.call(_dropout)(self.layer, _jax.to_jax(x, self.dtype), self.next_key(), training))

    def forward_and_grad(self, x, dy):
        y, dx = self.call(_dropout_value_and_grad)(self.layer, _jax.to_jax(x, self.dtype), _jax.to_jax(dy, self.dtype),
                                                   self.next_key())
        return _jax.to_numpy(y), _jax.to_numpy(dx)


def _attend(layer, q, k, v, key, training: bool):
    """The layer in the mode given (eqx.nn.inference_mode), vmapped over the batch with one key per example."""
    layer = eqx.nn.inference_mode(layer, not training)
    keys = jax.random.split(key, q.shape[0])
    return jax.vmap(lambda a, b, c, kk: layer(a, b, c, key=kk))(q, k, v, keys)


class EqxAttention(AttentionLayer):
    """eqx.nn.MultiheadAttention(num_heads, query_size=E, use_*_bias=True, dropout_p=p) on one example (L, E) at a
    time under jax.vmap, a key per example (the layer splits it per head). Its projections are eqx.nn.Linear,
    y = W x + b with W (out, in); the heads are the output's consecutive blocks of E / H."""

    LINEARS = {"q": "query_proj", "k": "key_proj", "v": "value_proj", "o": "output_proj"}

    def __init__(self, call, dtype: str, embed: int, heads: int, native: dict, next_key):
        self.call, self.dtype, self.embed, self.heads, self.next_key = call, dtype, embed, heads, next_key
        biases = dict.fromkeys(("use_query_bias", "use_key_bias", "use_value_bias", "use_output_bias"), True)
        self.layer = eqx.nn.MultiheadAttention(heads, embed, **biases, **native, dtype=_jax.dtypes(dtype)["param_dtype"],
                                               key=jax.random.PRNGKey(0))

    def attend(self, query, key, value, training, weights=False):
        q, k, v = (_jax.to_jax(a, self.dtype) for a in (query, key, value))
        return _jax.to_numpy(self.call(_attend)(self.layer, q, k, v, self.next_key(), training)), None

    def state(self):
        e, h = self.embed, self.heads
        out = {}
        for n, attr in self.LINEARS.items():
            linear = getattr(self.layer, attr)
            kernel, bias = _jax.to_numpy(linear.weight).T, _jax.to_numpy(linear.bias)
            out[f"{n}_kernel"] = kernel.reshape((h, e // h, e) if n == "o" else (e, h, e // h))
            out[f"{n}_bias"] = bias.reshape((e,) if n == "o" else (h, e // h))
        return out

    def set_state(self, **arrays):
        for name, a in arrays.items():
            n, part = name.split("_")
            field = "weight" if part == "kernel" else "bias"

            def where(m, attr=self.LINEARS[n], field=field):
                return getattr(getattr(m, attr), field)
            old = where(self.layer)
            new = _jax.to_jax(a, old.dtype)
            self.layer = eqx.tree_at(where, self.layer, new.reshape(old.shape[::-1]).T if field == "weight" else new.reshape(old.shape))


class EqxAdapter(Adapter):
    def __init__(self, flavour, device: str):
        super().__init__(flavour, device)
        self.call = _jax.calls(flavour.option("jit", False), JIT)
        _jax.start(device)
        self.mode = MODES[self.profile.get("batchnorm.training_statistics", "batch")]
        if EMA_ONLY and self.mode != "ema":
            raise RuntimeError(f"BatchNorm(mode={self.mode!r}) needs equinox >= 0.13.0; found {eqx.__version__}")
        self.key = jax.random.PRNGKey(0)

    def version(self):
        return eqx.__version__

    def environment(self):
        return {"device": str(jnp.zeros(()).devices().pop()), "jax": jax.__version__, "optax": optax.__version__,
                "x64": bool(jax.config.jax_enable_x64), "matmul_precision": _jax.matmul_precision(), "batchnorm_mode": self.mode,
                "execution": "eager" if self.call(_forward) is _forward else "eqx.filter_jit"}

    def seed(self, seed):
        self.key = jax.random.PRNGKey(seed)

    def next_key(self):
        """A fresh key for one call, split off the adapter's key (the per-step split of a training loop)."""
        self.key, key = jax.random.split(self.key)
        return key

    def builders(self):
        return {"batchnorm": self.batchnorm, "dropout": self.dropout, "attention": self.attention,
                "replicas": self.replicas, "models": self.models}

    def replicas(self, config):
        """BatchNorm(C, ('example', 'batch'), mode='batch') or Dropout on R host devices under jax.pmap or shard_map."""
        from layerconf.adapters import jax_replicas
        n, start = config.sizes["replicas"], jax_replicas.start_of(config)
        native = tuple(sorted(config.native.items()))
        if config.kind == "dropout":
            return jax_replicas.JaxReplicas(_replica_dropout, native, {}, n, start, self.device, config.dtype,
                                            seeded=not config.sizes.get("fresh", False))
        if config.kind != "sync":
            raise NotImplementedError(f"equinox has no {config.kind!r} replicas (profile replicas.local)")
        if config.layout not in CHANNEL_FIRST:
            raise ValueError(f"eqx.nn.BatchNorm takes (C, dim_1, ...) per example: layout {config.layout!r}")
        c = config.channels
        state = {"gamma": np.ones(c), "beta": np.zeros(c), "running_mean": np.zeros(c), "running_var": np.ones(c),
                 "batch_counter": np.array(0)}
        return jax_replicas.JaxReplicas(_replica_bn, (c, config.dtype, native), state, n, start, self.device,
                                        config.dtype, 0)

    def batchnorm(self, config):
        return EqxBatchNorm(self.call, self.mode, config.layout, config.channels, config.dtype, config.native)

    def dropout(self, config):
        if config.kind != "element":
            raise ValueError(f"eqx.nn.Dropout has one variant, 'element'; got {config.kind!r}")
        return EqxDropout(self.call, config.dtype, config.native, self.next_key)

    def attention(self, config):
        return EqxAttention(self.call, config.dtype, config.sizes["embed"], config.sizes["heads"], config.native,
                            self.next_key)

    def models(self, config):
        """The nested model of adapters.equinox_models (config.kind: the container; native: each layer's arguments)."""
        from layerconf.adapters.equinox_models import make
        return make(self.flavour.option("jit", False), self.mode, config.kind, config.channels, config.native,
                    self.next_key, EMA_ONLY)


def make_adapter(flavour, device: str = "cpu") -> EqxAdapter:
    return EqxAdapter(flavour, device)
