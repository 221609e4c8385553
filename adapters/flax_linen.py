"""Flax linen: module.init / module.apply with explicit variables, optax for the optimizer step. Two flavours:
flax-linen calls the functions below eagerly; flax-linen-jit calls each under jax.jit with the module and
the mode static (a linen training step as users write it), one compiled program per configuration and
shape, shared by every layer of that configuration.

The mode goes at call time (``use_running_average`` / ``deterministic``, the common linen pattern);
training makes the ``batch_stats`` collection mutable and takes the
updated statistics back; dropout draws from the 'dropout' rng stream with a key split off the
adapter's key per call (the explicit-key seeding linen users do). Freezing is optax.multi_transform
with set_to_zero on the frozen parameters; saving is flax.serialization of the variables.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax import serialization, traverse_util

from layerconf.adapters import _jax
from layerconf.adapters.base import Adapter, AttentionLayer, BatchNormLayer, DropoutLayer

STATE = {"running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var"),
         "gamma": ("params", "scale"), "beta": ("params", "bias")}


@functools.cache
def _initial(module: nn.BatchNorm, shape: tuple, dtype: str) -> dict:
    """module.init's variables for a sample of ``shape``, once per configuration: the values are constants and
    JAX arrays immutable, so layers share them safely, and each new configuration costs a compilation."""
    return module.init(jax.random.key(0), _jax.to_jax(np.zeros(shape), dtype), use_running_average=True)


def _bn_apply(module, variables, x, training: bool):
    """(y, batch_stats after the call): batch_stats mutable in training, as linen requires."""
    if training:
        y, updates = module.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
        return y, updates["batch_stats"]
    return module.apply(variables, x, use_running_average=True), variables["batch_stats"]


def _bn_grads(module, variables, x, dy, training: bool):
    """(batch_stats, dL/dparams, dL/dx) by jax.value_and_grad of L = sum(dy * y)."""
    def loss(params, x):
        y, stats = _bn_apply(module, {**variables, "params": params}, x, training)
        return _jax.weighted_sum(y, dy), stats

    (_, stats), (dparams, dx) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(variables.get("params", {}), x)
    return stats, dparams, dx


def _dropout_apply(module, x, training: bool, key):
    return module.apply({}, x, deterministic=not training, rngs=None if key is None else {"dropout": key})


def _dropout_vjp(module, x, dy, key):
    """(y, dL/dx) of a training call with L = sum(dy * y)."""
    y, vjp = jax.vjp(lambda x: _dropout_apply(module, x, True, key), x)
    return y, vjp(dy)[0]


def _replica_bn(module, state, x, mask, key, training: bool):
    """One replica's BatchNorm(axis_name='batch') call (adapters/jax_replicas.py) on the neutral state."""
    variables = {"params": {"scale": state["gamma"], "bias": state["beta"]},
                 "batch_stats": {"mean": state["running_mean"], "var": state["running_var"]}}
    if not training:
        return module.apply(variables, x, use_running_average=True, mask=mask), state
    y, updates = module.apply(variables, x, use_running_average=False, mask=mask, mutable=["batch_stats"])
    return y, {**state, "running_mean": updates["batch_stats"]["mean"], "running_var": updates["batch_stats"]["var"]}


def _replica_dropout(module, state, x, mask, key, training: bool):
    """One replica's Dropout call with its own 'dropout' key."""
    return module.apply({}, x, deterministic=not training, rngs={"dropout": key}), state


JIT = {f: jax.jit(f, static_argnames=static) for f, static in (
    (_bn_apply, ("module", "training")), (_bn_grads, ("module", "training")),
    (_dropout_apply, ("module", "training")), (_dropout_vjp, ("module",)))}


class LinenBatchNorm(BatchNormLayer):
    def __init__(self, call, layout: str, channels: int, dtype: str, native: dict):
        self.call, self.build = call, (call, layout, channels, dtype, native)
        self.dtype, self.param_dtype = dtype, _jax.dtypes(dtype)["param_dtype"]
        self.module = nn.BatchNorm(axis=_jax.channel_axis(layout), **_jax.dtypes(dtype), **native)
        self.variables = _initial(self.module, tuple(channels if a == "C" else 1 for a in layout), dtype)

    def forward(self, x, training):
        y, stats = self.call(_bn_apply)(module=self.module, variables=self.variables, x=_jax.to_jax(x, self.dtype),
                                        training=training)
        self.variables = {**self.variables, "batch_stats": stats}
        return _jax.to_numpy(y)

    def state(self):
        return {k: _jax.to_numpy(self.variables[c][n]) if n in self.variables.get(c, {}) else None
                for k, (c, n) in STATE.items()}

    def set_state(self, **arrays):
        variables = {c: dict(v) for c, v in self.variables.items()}
        for key, value in arrays.items():
            collection, name = STATE[key]
            variables[collection][name] = _jax.to_jax(value, self.param_dtype)
        self.variables = variables

    def freeze(self):
        self.frozen = True

    def _optimizer(self, lr):
        """optax.sgd, or after freeze() the multi_transform that gives this layer's parameters set_to_zero."""
        if not getattr(self, "frozen", False):
            return optax.sgd(lr)
        labels = traverse_util.path_aware_map(lambda path, _: "frozen", self.variables.get("params", {}))
        return optax.multi_transform({"trainable": optax.sgd(lr), "frozen": optax.set_to_zero()}, labels)

    def _grads(self, x, dy, training):
        """(dL/dparams, dL/dx) by jax.grad of L = sum(dy * y); the statistics move as in a training step."""
        stats, dparams, dx = self.call(_bn_grads)(module=self.module, variables=self.variables, training=training,
                                                  x=_jax.to_jax(x, self.dtype), dy=_jax.to_jax(dy, self.dtype))
        self.variables = {**self.variables, "batch_stats": stats}
        return dparams, dx

    def gradients(self, x, dy, training):
        dparams, dx = self._grads(x, dy, training)
        grad = lambda n: _jax.to_numpy(dparams[n]) if n in dparams else None  # noqa: E731
        return {"x": _jax.to_numpy(dx), "gamma": grad("scale"), "beta": grad("bias")}

    def sgd_step(self, x, dy, lr, training):
        params = self.variables.get("params", {})
        tx = self._optimizer(lr)
        dparams, dx = self._grads(x, dy, training)
        updates, _ = tx.update(dparams, tx.init(params), params)
        self.variables = {**self.variables, "params": optax.apply_updates(params, updates)}
        return _jax.to_numpy(dx)

    def reloaded(self):
        saved = serialization.to_bytes(self.variables)
        fresh = LinenBatchNorm(*self.build)
        fresh.variables = serialization.from_bytes(fresh.variables, saved)
        return fresh


class LinenDropout(DropoutLayer):
    def __init__(self, call, dtype: str, native: dict, next_key):
        self.call, self.dtype, self.next_key = call, dtype, next_key
        self.module = nn.Dropout(**native)

    def forward(self, x, training):
        y = self.call(_dropout_apply)(module=self.module, x=_jax.to_jax(x, self.dtype), training=training,
                                      key=self.next_key() if training else None)
        return _jax.to_numpy(y)

    def forward_and_grad(self, x, dy):
        y, dx = self.call(_dropout_vjp)(module=self.module, x=_jax.to_jax(x, self.dtype), dy=_jax.to_jax(dy, self.dtype),
                                        key=self.next_key())
        return _jax.to_numpy(y), _jax.to_numpy(dx)


PROJECTIONS = {"q_kernel": ("query", "kernel"), "q_bias": ("query", "bias"), "k_kernel": ("key", "kernel"),
               "k_bias": ("key", "bias"), "v_kernel": ("value", "kernel"), "v_bias": ("value", "bias"),
               "o_kernel": ("out", "kernel"), "o_bias": ("out", "bias")}   # params of MultiHeadDotProductAttention


class LinenAttention(AttentionLayer):
    """nn.MultiHeadDotProductAttention(num_heads, qkv_features=E, out_features=E, dropout_rate=p) applied with
    deterministic=not training and rngs={'dropout': key}; sow_weights=True puts the attention weights in the
    'intermediates' collection. The projections are its params (query/key/value/out: kernel and bias)."""

    def __init__(self, dtype: str, embed: int, heads: int, native: dict, next_key):
        self.dtype, self.next_key = dtype, next_key
        self.module = nn.MultiHeadDotProductAttention(num_heads=heads, qkv_features=embed, out_features=embed,
                                                      **_jax.dtypes(dtype), **native)
        x = _jax.to_jax(np.zeros((1, 1, embed)), dtype)
        self.variables = self.module.init(jax.random.key(0), x, x, x, deterministic=True)

    def attend(self, query, key, value, training, weights=False):
        q, k, v = (_jax.to_jax(a, self.dtype) for a in (query, key, value))
        rngs = {"dropout": self.next_key()} if training else {}
        y, sown = self.module.apply(self.variables, q, k, v, deterministic=not training, rngs=rngs,
                                    sow_weights=weights, mutable=["intermediates"])
        w = sown["intermediates"]["attention_weights"][0] if weights else None
        return _jax.to_numpy(y), None if w is None else _jax.to_numpy(w)

    def state(self):
        params = self.variables["params"]
        return {k: _jax.to_numpy(params[m][p]) for k, (m, p) in PROJECTIONS.items()}

    def set_state(self, **arrays):
        params = jax.tree_util.tree_map(lambda a: a, self.variables["params"])
        for k, a in arrays.items():
            m, p = PROJECTIONS[k]
            params[m] = {**params[m], p: _jax.to_jax(a, params[m][p].dtype)}
        self.variables = {**self.variables, "params": params}


class LinenAdapter(Adapter):
    def __init__(self, flavour, device: str):
        super().__init__(flavour, device)
        self.call = _jax.calls(flavour.option("jit", False), JIT)
        _jax.start(device)
        self.key = jax.random.key(0)

    def version(self):
        import flax
        return flax.__version__

    def environment(self):
        return {"device": str(jnp.zeros(()).devices().pop()), "jax": jax.__version__, "optax": optax.__version__,
                "x64": bool(jax.config.jax_enable_x64), "matmul_precision": _jax.matmul_precision(),
                "execution": "eager" if self.call(_bn_apply) is _bn_apply else "jax.jit"}

    def seed(self, seed):
        self.key = jax.random.key(seed)

    def next_key(self):
        """A fresh key for one call, split off the adapter's key (the per-step split of a training loop)."""
        self.key, key = jax.random.split(self.key)
        return key

    def builders(self):
        return {"batchnorm": self.batchnorm, "dropout": self.dropout, "attention": self.attention,
                "replicas": self.replicas, "models": self.models}

    def replicas(self, config):
        """BatchNorm(axis_name='batch') or Dropout on R host devices under jax.pmap or shard_map."""
        from layerconf.adapters import jax_replicas
        n, start = config.sizes["replicas"], jax_replicas.start_of(config)
        if config.kind == "dropout":
            return jax_replicas.JaxReplicas(_replica_dropout, nn.Dropout(**config.native), {}, n, start, self.device,
                                            config.dtype, seeded=not config.sizes.get("fresh", False))
        if config.kind != "sync":
            raise NotImplementedError(f"flax linen has no {config.kind!r} replicas (profile replicas.local)")
        axis = _jax.channel_axis(config.layout)
        module = getattr(nn, self.profile.get("replicas.sync.layouts")[config.layout])(
            axis=axis, axis_name=jax_replicas.AXIS, **config.native, **_jax.dtypes(config.dtype))
        shape = tuple(config.channels if a == "C" else 2 for a in config.layout)
        variables = _initial(module, shape, config.dtype)
        state = {k: variables[c][n_] for k, (c, n_) in STATE.items()}
        return jax_replicas.JaxReplicas(_replica_bn, module, state, n, start, self.device, config.dtype, axis)

    def batchnorm(self, config):
        return LinenBatchNorm(self.call, config.layout, config.channels, config.dtype, config.native)

    def dropout(self, config):
        native = config.native
        if config.kind not in ("element", "channel"):
            raise ValueError(f"variant must be 'element' or 'channel' (linen Dropout has no other), got {config.kind!r}")
        if config.kind == "channel":
            native = {**native, "broadcast_dims": _jax.spatial_axes(config.layout)}
        return LinenDropout(self.call, config.dtype, native, self.next_key)

    def attention(self, config):
        return LinenAttention(config.dtype, config.sizes["embed"], config.sizes["heads"], config.native, self.next_key)

    def models(self, config):
        """The nested model of adapters.flax_linen_models (config.kind: the container; native: each layer's arguments)."""
        from layerconf.adapters.flax_linen_models import make
        return make(self.flavour.option("jit", False), config.kind, config.channels, config.native, self.next_key)


def make_adapter(flavour, device: str = "cpu") -> LinenAdapter:
    return LinenAdapter(flavour, device)
