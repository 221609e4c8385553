"""Flax nnx: stateful nnx.BatchNorm / nnx.Dropout objects, model.train() / model.eval(), nnx.Optimizer.

The BatchNorm sits in a small model under the attribute ``bn`` (as in a user's network), so that
freezing it is the documented parameter filter on the optimizer and on the gradient:
``nnx.All(nnx.Param, nnx.Not(nnx.PathContains('bn')))``. Dropout owns its 'dropout' rng stream
(``rngs=nnx.Rngs(dropout=seed)``); reseeding is nnx.reseed on the live layers. Saving is the pure
dictionary of nnx.state, serialized with flax.serialization's msgpack, restored by nnx.update.

Two flavours: flax-nnx calls the functions below eagerly; flax-nnx-jit calls each under nnx.jit (the
optimizer filter static), as nnx training steps run: one trace per graph definition and shape, shared by
every layer of that configuration, the modules' state (batch statistics, rng counts) carried back.
"""
import weakref

import jax
import jax.numpy as jnp
import optax
from flax import nnx, serialization

from layerconf.adapters import _jax
from layerconf.adapters.base import Adapter, AttentionLayer, BatchNormLayer, DropoutLayer
from layerconf.adapters.flax_linen import PROJECTIONS

STATE = {"running_mean": "mean", "running_var": "var", "gamma": "scale", "beta": "bias"}
TRAINABLE = nnx.Param
FROZEN_BN = nnx.All(nnx.Param, nnx.Not(nnx.PathContains("bn")))


class Model(nnx.Module):
    def __init__(self, bn: nnx.BatchNorm):
        self.bn = bn

    def __call__(self, x):
        return self.bn(x)


def _replace(variable, value):
    """Replace a variable's array: Variable.set_value from flax 0.12.1, the .value setter before it."""
    if hasattr(variable, "set_value"):
        variable.set_value(value)
    else:
        variable.value = value


def _call(module, x):
    return module(x)


def _replica_bn(static, state, x, mask, key, training: bool):
    """One replica's nnx.BatchNorm(axis_name='batch') call (adapters/jax_replicas.py): the layer built in the step
    from its configuration, its variables set from the neutral state, train() or eval(), the statistics read back."""
    channels, axis, dtype, native = static
    bn = nnx.BatchNorm(channels, axis=axis, axis_name=AXIS_NAME, rngs=nnx.Rngs(0), **dict(native), **_jax.dtypes(dtype))
    for key_, name in STATE.items():
        _replace(getattr(bn, name), state[key_])
    bn.train() if training else bn.eval()
    y = bn(x, mask=mask)
    return y, {k: getattr(bn, name)[...] for k, name in STATE.items()}


def _replica_dropout(static, state, x, mask, key, training: bool):
    """One replica's nnx.Dropout call, its 'dropout' stream started from the replica's key."""
    drop = nnx.Dropout(**dict(static), rngs=nnx.Rngs(dropout=key))
    drop.train() if training else drop.eval()
    return drop(x), state


AXIS_NAME = "batch"   # jax_replicas.AXIS


def _grads(model, x, dy, wrt):
    """(dL/d(state selected by wrt), dL/dx) by nnx.grad of L = sum(dy * y)."""
    loss = lambda model, x: _jax.weighted_sum(model(x), dy)  # noqa: E731
    return nnx.grad(loss, argnums=(nnx.DiffState(0, wrt), 1))(model, x)


def _sgd_step(model, optimizer, x, dy, wrt):
    """One training step: the gradients, then optimizer.update(model, grads); returns dL/dx."""
    dmodel, dx = _grads(model, x, dy, wrt)
    optimizer.update(model, dmodel)
    return dx


def _value_and_grad(module, x, dy):
    """(y, dL/dx) of one call with L = sum(dy * y)."""
    def loss(module, x):
        y = module(x)
        return _jax.weighted_sum(y, dy), y

    (_, y), dx = nnx.value_and_grad(loss, argnums=1, has_aux=True)(module, x)
    return y, dx


JIT = {f: nnx.jit(f, static_argnames=static) for f, static in (
    (_call, ()), (_grads, ("wrt",)), (_sgd_step, ("wrt",)), (_value_and_grad, ()))}


class NnxBatchNorm(BatchNormLayer):
    def __init__(self, call, layout: str, channels: int, dtype: str, native: dict):
        self.call, self.build = call, (call, layout, channels, dtype, native)
        self.dtype, self.param_dtype = dtype, _jax.dtypes(dtype)["param_dtype"]
        bn = nnx.BatchNorm(channels, axis=_jax.channel_axis(layout), **_jax.dtypes(dtype), **native, rngs=nnx.Rngs(0))
        self.model, self.wrt = Model(bn), TRAINABLE

    def _mode(self, training: bool):
        self.model.train() if training else self.model.eval()

    def forward(self, x, training):
        self._mode(training)
        return _jax.to_numpy(self.call(_call)(self.model, _jax.to_jax(x, self.dtype)))

    def state(self):
        return {k: None if getattr(self.model.bn, a) is None else _jax.to_numpy(getattr(self.model.bn, a)[...])
                for k, a in STATE.items()}

    def set_state(self, **arrays):
        for key, value in arrays.items():
            _replace(getattr(self.model.bn, STATE[key]), _jax.to_jax(value, self.param_dtype))

    def freeze(self):
        self.wrt = FROZEN_BN

    def gradients(self, x, dy, training):
        """Batch statistics update in training, as in a training step."""
        self._mode(training)
        dmodel, dx = self.call(_grads)(self.model, _jax.to_jax(x, self.dtype), _jax.to_jax(dy, self.dtype), wrt=self.wrt)
        bn = nnx.to_pure_dict(dmodel).get("bn", {})
        grad = lambda n: _jax.to_numpy(bn[n]) if n in bn else None  # noqa: E731
        return {"x": _jax.to_numpy(dx), "gamma": grad("scale"), "beta": grad("bias")}

    def sgd_step(self, x, dy, lr, training):
        optimizer = nnx.Optimizer(self.model, optax.sgd(lr), wrt=self.wrt)
        self._mode(training)
        dx = self.call(_sgd_step)(self.model, optimizer, _jax.to_jax(x, self.dtype), _jax.to_jax(dy, self.dtype),
                                  wrt=self.wrt)
        return _jax.to_numpy(dx)

    def reloaded(self):
        saved = serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(self.model)))
        fresh = NnxBatchNorm(*self.build)
        state = nnx.state(fresh.model)
        nnx.replace_by_pure_dict(state, jax.tree.map(jnp.asarray, serialization.msgpack_restore(saved)))
        nnx.update(fresh.model, state)
        return fresh


class NnxDropout(DropoutLayer):
    def __init__(self, call, dtype: str, native: dict, seed: int):
        self.call, self.dtype = call, dtype
        self.module = nnx.Dropout(**native, rngs=nnx.Rngs(dropout=seed))

    def _mode(self, training: bool):
        self.module.train() if training else self.module.eval()

    def forward(self, x, training):
        self._mode(training)
        return _jax.to_numpy(self.call(_call)(self.module, _jax.to_jax(x, self.dtype)))

    def forward_and_grad(self, x, dy):
        self._mode(True)
        y, dx = self.call(_value_and_grad)(self.module, _jax.to_jax(x, self.dtype), _jax.to_jax(dy, self.dtype))
        return _jax.to_numpy(y), _jax.to_numpy(dx)


class NnxAttention(AttentionLayer):
    """nnx.MultiHeadAttention(num_heads, in_features=E, qkv_features=E, out_features=E, dropout_rate=p, decode=False,
    rngs=nnx.Rngs(params=0, dropout=seed)) in train()/eval(); sow_weights=True sows the attention weights as an
    nnx.Intermediate, taken with nnx.pop. The projections are its query/key/value/out kernel and bias Params."""

    def __init__(self, dtype: str, embed: int, heads: int, native: dict, seed: int):
        self.dtype = dtype
        self.module = nnx.MultiHeadAttention(num_heads=heads, in_features=embed, qkv_features=embed, out_features=embed,
                                             decode=False, **_jax.dtypes(dtype), **native, rngs=nnx.Rngs(params=0, dropout=seed))

    def attend(self, query, key, value, training, weights=False):
        self.module.train() if training else self.module.eval()
        y = self.module(*(_jax.to_jax(a, self.dtype) for a in (query, key, value)), sow_weights=weights)
        if not weights:
            return _jax.to_numpy(y), None
        (sown,) = jax.tree.leaves(nnx.pop(self.module, nnx.Intermediate))
        return _jax.to_numpy(y), _jax.to_numpy(sown)

    def state(self):
        return {k: _jax.to_numpy(getattr(getattr(self.module, m), p).value) for k, (m, p) in PROJECTIONS.items()}

    def set_state(self, **arrays):
        for k, a in arrays.items():
            m, p = PROJECTIONS[k]
            variable = getattr(getattr(self.module, m), p)
            _replace(variable, _jax.to_jax(a, variable.value.dtype))


class NnxAdapter(Adapter):
    def __init__(self, flavour, device: str):
        super().__init__(flavour, device)
        self.call = _jax.calls(flavour.option("jit", False), JIT)
        _jax.start(device)
        self.seed_value = 0
        self.live = weakref.WeakSet()   # dropout modules to reseed

    def version(self):
        import flax
        return flax.__version__

    def environment(self):
        return {"device": str(jnp.zeros(()).devices().pop()), "jax": jax.__version__, "optax": optax.__version__,
                "x64": bool(jax.config.jax_enable_x64), "matmul_precision": _jax.matmul_precision(),
                "execution": "eager" if self.call(_call) is _call else "nnx.jit"}

    def seed(self, seed):
        """New layers get nnx.Rngs(dropout=seed); live ones are reseeded with nnx.reseed(module, dropout=seed)."""
        self.seed_value = seed
        for module in self.live:
            nnx.reseed(module, dropout=seed)

    def builders(self):
        return {"batchnorm": self.batchnorm, "dropout": self.dropout, "attention": self.attention, "models": self.models,
                "replicas": self.replicas}

    def replicas(self, config):
        """nnx.BatchNorm(axis_name='batch') or nnx.Dropout on R host devices under jax.pmap or shard_map (a step that
        builds the layer, adapters/jax_replicas.py), or the module itself under nnx.pmap or nnx.shard_map
        (adapters/flax_nnx_replicas.py)."""
        from layerconf.adapters import flax_nnx_replicas, jax_replicas
        n, start = config.sizes["replicas"], jax_replicas.start_of(config)
        if start in flax_nnx_replicas.STARTS:
            return flax_nnx_replicas.build(config, start, self.device)
        native = tuple(sorted(config.native.items()))
        if config.kind == "dropout":
            return jax_replicas.JaxReplicas(_replica_dropout, native, {}, n, start, self.device, config.dtype,
                                            seeded=not config.sizes.get("fresh", False))
        if config.kind != "sync":
            raise NotImplementedError(f"flax nnx has no {config.kind!r} replicas (profile replicas.local)")
        axis = _jax.channel_axis(config.layout)
        c = config.channels
        state = {"gamma": jnp.ones(c), "beta": jnp.zeros(c), "running_mean": jnp.zeros(c), "running_var": jnp.ones(c)}
        return jax_replicas.JaxReplicas(_replica_bn, (c, axis, config.dtype, native), state, n, start, self.device,
                                        config.dtype, axis)

    def models(self, config):
        """The nested model of adapters.flax_nnx_models (eager; flax-nnx-jit's profile has no models section)."""
        from layerconf.adapters.flax_nnx_models import make
        return make(config.kind, config.channels, config.native, self.seed_value)

    def batchnorm(self, config):
        return NnxBatchNorm(self.call, config.layout, config.channels, config.dtype, config.native)

    def dropout(self, config):
        native = config.native
        if config.kind not in ("element", "channel"):
            raise ValueError(f"variant must be 'element' or 'channel' (nnx.Dropout has no other), got {config.kind!r}")
        if config.kind == "channel":
            native = {**native, "broadcast_dims": _jax.spatial_axes(config.layout)}
        layer = NnxDropout(self.call, config.dtype, native, self.seed_value)
        self.live.add(layer.module)
        return layer

    def attention(self, config):
        layer = NnxAttention(config.dtype, config.sizes["embed"], config.sizes["heads"], config.native, self.seed_value)
        self.live.add(layer.module)
        return layer


OLDEST = "0.11"   # nnx.Optimizer(model, tx, wrt=...) and optimizer.update(model, grads), the API used here


def make_adapter(flavour, device: str = "cpu") -> NnxAdapter:
    import flax
    from packaging.version import Version

    if Version(flax.__version__) < Version(OLDEST):
        raise RuntimeError(f"the flax-nnx adapter needs flax >= {OLDEST} (nnx.Optimizer(model, tx, wrt=...), "
                           f"optimizer.update(model, grads): the nnx API of 0.11); found flax {flax.__version__}. "
                           "flax-linen runs on older flax.")
    return NnxAdapter(flavour, device)
