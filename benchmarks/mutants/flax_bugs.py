"""Semantic bugs injected into Flax, linen and nnx alike (see benchmarks/mutants/__init__.py).

Each mutant patches Flax's own code: the BatchNorm / Dropout ``__call__`` of flax.linen and flax.nnx,
or the module-level helpers they call at run time (``_compute_stats`` and ``_normalize`` of
flax.linen.normalization and flax.nnx.nn.normalization). Both APIs are patched at once (one process
runs one framework), so one module serves flax-linen and flax-nnx. Each mutant is a realistic bug: the
layer runs, returns the right shape and dtype, and is wrong in one behaviour only.
"""
import contextlib
import functools
import inspect
import math

import jax
import jax.numpy as jnp
from flax import linen, nnx
from flax.linen import normalization as linen_norm
from flax.nnx.nn import normalization as nnx_norm

from benchmarks.mutants import hit, mutant

BATCHNORMS = (linen.BatchNorm, nnx.BatchNorm)
DROPOUTS = (linen.Dropout, nnx.Dropout)
NORMALIZATION_MODULES = (linen_norm, nnx_norm)


@contextlib.contextmanager
def _attributes(module, **values):
    """Set a module's fields for the duration of one call (linen modules are frozen dataclasses)."""
    old = {k: getattr(module, k) for k in values}
    for k, v in values.items():
        object.__setattr__(module, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            object.__setattr__(module, k, v)


def _flag(module, name, args, kwargs):
    """The mode flag in force: the call's (keyword or first positional) or else the constructor's."""
    given = kwargs.get(name, args[0] if args else None)
    return getattr(module, name) if given is None else given


def _call_with(call, module, x, name, value, **extra):
    """call(module, x) with the flag ``name`` forced to ``value`` (moved from the constructor to the call)."""
    with _attributes(module, **{name: None}):
        return call(module, x, **{name: value}, **extra)


def _patch_call(classes, make):
    """Replace cls.__call__ of each class by make(original, cls)."""
    for cls in classes:
        cls.__call__ = functools.wraps(cls.__call__)(make(cls.__call__, cls))


def _patch_helper(name, make):
    """Replace the module-level helper ``name`` of both normalization modules; make gets (original, signature)."""
    for mod in NORMALIZATION_MODULES:
        original = getattr(mod, name)
        signature = inspect.signature(original)
        body = make(original, signature)

        @functools.wraps(original)
        def wrapper(*args, _body=body, _signature=signature, **kwargs):
            bound = _signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return _body(bound)

        setattr(mod, name, wrapper)


@contextlib.contextmanager
def _statistics_kept(module):
    """Run a training-mode call without its running-statistics update."""
    if isinstance(module, linen.Module):   # linen skips the update while initializing
        with _attributes(module, is_initializing=lambda: True):
            yield
    else:
        mean, var = module.mean[...], module.var[...]
        yield
        module.mean.set_value(mean)
        module.var.set_value(var)


# ---------------------------------------------------------------- BatchNorm

@mutant("bn_momentum_reversed", "running update weights the batch by momentum (PyTorch meaning in a Flax layer)")
def _():
    def make(call, cls):
        def patched(self, x, *args, **kwargs):
            if _flag(self, "use_running_average", args, kwargs) or self.momentum == 0.5:
                return call(self, x, *args, **kwargs)
            hit()
            with _attributes(self, momentum=1 - self.momentum):
                return call(self, x, *args, **kwargs)
        return patched
    _patch_call(BATCHNORMS, make)


@mutant("bn_train_running_stats", "training normalizes with the running statistics (which are still updated)")
def _():
    def make(call, cls):
        def patched(self, x, *args, **kwargs):
            if _flag(self, "use_running_average", args, kwargs):
                return call(self, x, *args, **kwargs)
            hit()
            y = _call_with(call, self, x, "use_running_average", True)
            _call_with(call, self, x, "use_running_average", False)
            return y
        return patched
    _patch_call(BATCHNORMS, make)


@mutant("bn_eval_batch_stats", "inference normalizes with the batch statistics (running statistics left alone)")
def _():
    def make(call, cls):
        def patched(self, x, *args, **kwargs):
            if not _flag(self, "use_running_average", args, kwargs):
                return call(self, x, *args, **kwargs)
            hit()
            with _statistics_kept(self):
                return _call_with(call, self, x, "use_running_average", False)
        return patched
    _patch_call(BATCHNORMS, make)


@mutant("bn_unbiased_variance", "batch variance with n - 1 (ddof=1) for normalising and for the running update")
def _():
    def make(compute_stats, signature):
        def patched(bound):
            mean, var = compute_stats(*bound.args, **bound.kwargs)
            x, axes = bound.arguments["x"], bound.arguments["axes"]
            axes = (axes,) if isinstance(axes, int) else axes
            n = math.prod(x.shape[a] for a in axes)
            if n < 2:
                return mean, var
            hit()
            return mean, var * n / (n - 1)
        return patched
    _patch_helper("_compute_stats", make)


@mutant("bn_eps_outside_sqrt", "y = (x - mean) / (sqrt(var) + eps) instead of / sqrt(var + eps)")
def _():
    def make(normalize, signature):
        def patched(bound):
            hit()
            var, eps = bound.arguments["var"], bound.arguments["epsilon"]
            bound.arguments["var"] = (jnp.sqrt(var) + eps) ** 2   # rsqrt(var' + 0) = 1 / (sqrt(var) + eps)
            bound.arguments["epsilon"] = 0.0
            return normalize(*bound.args, **bound.kwargs)
        return patched
    _patch_helper("_normalize", make)


@mutant("bn_affine_ignored", "scale and bias are not applied")
def _():
    def make(normalize, signature):
        def patched(bound):
            hit()
            if "use_scale" in bound.arguments:   # linen creates and applies the params in _normalize
                bound.arguments["use_scale"] = bound.arguments["use_bias"] = False
            else:
                bound.arguments["scale"] = bound.arguments["bias"] = None
            return normalize(*bound.args, **bound.kwargs)
        return patched
    _patch_helper("_normalize", make)


# ---------------------------------------------------------------- Dropout

def _training(self, args, kwargs):
    return not _flag(self, "deterministic", args, kwargs) and 0.0 < self.rate < 1.0


@mutant("do_eval_active", "dropout also drops when deterministic (a fixed key where none is given)")
def _():
    def make(call, cls):
        def patched(self, x, *args, **kwargs):
            if not _flag(self, "deterministic", args, kwargs) or not 0.0 < self.rate < 1.0:
                return call(self, x, *args, **kwargs)
            hit()
            if cls is linen.Dropout:
                return _call_with(call, self, x, "deterministic", False, rng=jax.random.key(0))
            return _call_with(call, self, x, "deterministic", False, rngs=self.rngs or jax.random.key(0))
        return patched
    _patch_call(DROPOUTS, make)


@mutant("do_unscaled", "training dropout returns x * mask, without the 1 / (1 - rate) scale")
def _():
    def make(call, cls):
        def patched(self, x, *args, **kwargs):
            y = call(self, x, *args, **kwargs)
            if not _training(self, args, kwargs):
                return y
            hit()
            return y * (1 - self.rate)
        return patched
    _patch_call(DROPOUTS, make)


@mutant("do_rate_off", "drops with probability 0.9 rate (and scales by 1 / (1 - 0.9 rate))")
def _():
    def make(call, cls):
        def patched(self, x, *args, **kwargs):
            if not _training(self, args, kwargs):
                return call(self, x, *args, **kwargs)
            hit()
            with _attributes(self, rate=0.9 * self.rate):
                return call(self, x, *args, **kwargs)
        return patched
    _patch_call(DROPOUTS, make)


@mutant("do_broadcast_ignored", "broadcast_dims ignored: channel-wise dropout drops single elements")
def _():
    def make(call, cls):
        def patched(self, x, *args, **kwargs):
            if not (_training(self, args, kwargs) and self.broadcast_dims):
                return call(self, x, *args, **kwargs)
            hit()
            with _attributes(self, broadcast_dims=()):
                return call(self, x, *args, **kwargs)
        return patched
    _patch_call(DROPOUTS, make)


@mutant("do_grad_unscaled", "dropout's gradient is dy * mask, without the 1 / (1 - rate) scale")
def _():
    def make(call, cls):
        def patched(self, x, *args, **kwargs):
            y = call(self, x, *args, **kwargs)
            if not _training(self, args, kwargs):
                return y
            hit()
            kept = x * (y != 0).astype(x.dtype)
            return jax.lax.stop_gradient(y) + kept - jax.lax.stop_gradient(kept)
        return patched
    _patch_call(DROPOUTS, make)


@mutant("do_constant_key", "every call draws its mask from the same key (the rng stream is not used)")
def _():
    def make(call, cls):
        def patched(self, x, *args, **kwargs):
            if not _training(self, args, kwargs):
                return call(self, x, *args, **kwargs)
            hit()
            key = {"rng" if cls is linen.Dropout else "rngs": jax.random.key(0)}
            return call(self, x, *args, **{**kwargs, **key})
        return patched
    _patch_call(DROPOUTS, make)
