"""Flax linen: module.init / module.apply with explicit variables, optax for the optimizer step.

The mode goes at call time (``use_running_average`` / ``deterministic``, the common linen pattern);
training makes the ``batch_stats`` collection mutable and takes the
updated statistics back; dropout draws from the 'dropout' rng stream with a key split off the
adapter's key per call (the explicit-key seeding linen users do). Freezing is optax.multi_transform
with set_to_zero on the frozen parameters; saving is flax.serialization of the variables.
"""
import functools

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn
from flax import serialization, traverse_util

from layerconf import specs
from layerconf.adapters import _jax
from layerconf.adapters.base import Adapter, BatchNormLayer, DropoutLayer

STATE = {"running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var"),
         "gamma": ("params", "scale"), "beta": ("params", "bias")}


@functools.cache
def _initial(module: nn.BatchNorm, shape: tuple, dtype: str) -> dict:
    """module.init's variables for a sample of ``shape``, once per configuration: the values are constants and
    JAX arrays immutable, so layers share them safely, and each new configuration costs a compilation."""
    return module.init(jax.random.key(0), jnp.zeros(shape, _jax.DTYPES[dtype]), use_running_average=True)


class LinenBatchNorm(BatchNormLayer):
    def __init__(self, layout: str, channels: int, dtype: str, native: dict):
        self.build = (layout, channels, dtype, native)
        self.dtype, self.param_dtype = dtype, _jax.dtypes(dtype)["param_dtype"]
        self.module = nn.BatchNorm(axis=_jax.channel_axis(layout), **_jax.dtypes(dtype), **native)
        self.variables = _initial(self.module, tuple(channels if a == "C" else 1 for a in layout), dtype)

    def _apply(self, params, x, training: bool):
        """(y, new batch_stats): the forward pass, batch_stats mutable in training as linen requires."""
        variables = {**self.variables, "params": params}
        if training:
            y, updates = self.module.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
            return y, updates["batch_stats"]
        return self.module.apply(variables, x, use_running_average=True), self.variables["batch_stats"]

    def forward(self, x, training):
        y, stats = self._apply(self.variables.get("params", {}), _jax.to_jax(x, self.dtype), training)
        self.variables = {**self.variables, "batch_stats": stats}
        return _jax.to_numpy(y)

    def state(self):
        return {k: _jax.to_numpy(self.variables[c][n]) if n in self.variables.get(c, {}) else None
                for k, (c, n) in STATE.items()}

    def set_state(self, **arrays):
        variables = {c: dict(v) for c, v in self.variables.items()}
        for key, value in arrays.items():
            collection, name = STATE[key]
            variables[collection][name] = jnp.asarray(value, self.param_dtype)
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
        x, dy = _jax.to_jax(x, self.dtype), _jax.to_jax(dy, self.dtype)

        def loss(params, x):
            y, stats = self._apply(params, x, training)
            return _jax.weighted_sum(y, dy), stats

        (_, stats), (dparams, dx) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(
            self.variables.get("params", {}), x)
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
    def __init__(self, dtype: str, native: dict, next_key):
        self.dtype, self.next_key = dtype, next_key
        self.module = nn.Dropout(**native)

    def _apply(self, x, training: bool, key=None):
        return self.module.apply({}, x, deterministic=not training, rngs=None if key is None else {"dropout": key})

    def forward(self, x, training):
        return _jax.to_numpy(self._apply(_jax.to_jax(x, self.dtype), training, self.next_key() if training else None))

    def forward_and_grad(self, x, dy):
        key = self.next_key()
        y, vjp = jax.vjp(lambda x: self._apply(x, True, key), _jax.to_jax(x, self.dtype))
        (dx,) = vjp(_jax.to_jax(dy, self.dtype))
        return _jax.to_numpy(y), _jax.to_numpy(dx)


class LinenAdapter(Adapter):
    name = "flax-linen"

    def __init__(self, device: str):
        self.device = device
        self.jax_device = _jax.device(device)
        _jax.use_compilation_cache()
        jax.config.update("jax_default_device", self.jax_device)
        self.profile = specs.profile(self.name)
        self.key = jax.random.key(0)

    def version(self):
        import flax
        return flax.__version__

    def environment(self):
        return {"device": str(jnp.zeros(()).devices().pop()), "jax": jax.__version__, "optax": optax.__version__,
                "x64": bool(jax.config.jax_enable_x64)}

    def seed(self, seed):
        self.key = jax.random.key(seed)

    def next_key(self):
        """A fresh key for one call, split off the adapter's key (the per-step split of a training loop)."""
        self.key, key = jax.random.split(self.key)
        return key

    def batchnorm(self, layout, channels, dtype, **native):
        return LinenBatchNorm(layout, channels, dtype, native)

    def dropout(self, variant, layout, dtype, **native):
        if variant not in ("element", "channel"):
            raise ValueError(f"variant must be 'element' or 'channel' (linen Dropout has no other), got {variant!r}")
        if variant == "channel":
            native = {**native, "broadcast_dims": _jax.spatial_axes(layout)}
        return LinenDropout(dtype, native, self.next_key)


def make_adapter(name: str = "flax-linen", device: str = "cpu") -> LinenAdapter:
    return LinenAdapter(device)
