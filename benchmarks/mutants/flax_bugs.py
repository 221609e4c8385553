"""Bugs of Flax, linen and nnx alike: each replaces the BatchNorm / Dropout ``__call__`` of flax.linen and flax.nnx,
or a module-level helper they call at run time (``_compute_stats``, ``_normalize`` of both normalization modules),
so one module serves flax-linen and flax-nnx (one process runs one framework)."""
import contextlib
import math

import jax
import jax.numpy as jnp
from flax import linen, nnx

from benchmarks.mutants.kit import attributes, hit, mutant

BATCHNORMS = [(linen.BatchNorm, "__call__"), (nnx.BatchNorm, "__call__")]
DROPOUTS = [(linen.Dropout, "__call__"), (nnx.Dropout, "__call__")]
NORMALIZATIONS = ["flax.linen.normalization", "flax.nnx.nn.normalization"]
COMPUTE_STATS, NORMALIZE = [f"{m}._compute_stats" for m in NORMALIZATIONS], [f"{m}._normalize" for m in NORMALIZATIONS]


def fields(module, **values):
    """A module's fields set for one call (linen modules are frozen dataclasses)."""
    return attributes(module, raw=True, **values)


def _flag(module, name, args, kwargs):
    """The mode flag in force: the call's (keyword or first positional) or else the constructor's."""
    given = kwargs.get(name, args[0] if args else None)
    return getattr(module, name) if given is None else given


def _call_with(call, module, x, name, value, **extra):
    """call(module, x) with the flag ``name`` forced to ``value`` (moved from the constructor to the call)."""
    with fields(module, **{name: None}):
        return call(module, x, **{name: value}, **extra)


@contextlib.contextmanager
def _statistics_kept(module):
    """Run a training-mode call without its running-statistics update."""
    if isinstance(module, linen.Module):   # linen skips the update while initializing
        with fields(module, is_initializing=lambda: True):
            yield
    else:
        mean, var = module.mean[...], module.var[...]
        yield
        module.mean.set_value(mean)
        module.var.set_value(var)


@mutant("bn_momentum_reversed", *BATCHNORMS)
def _(call, self, x, *args, **kwargs):
    if not hit(not _flag(self, "use_running_average", args, kwargs) and self.momentum != 0.5):
        return call(self, x, *args, **kwargs)
    with fields(self, momentum=1 - self.momentum):
        return call(self, x, *args, **kwargs)


@mutant("bn_train_running_stats", *BATCHNORMS)
def _(call, self, x, *args, **kwargs):
    if not hit(not _flag(self, "use_running_average", args, kwargs)):
        return call(self, x, *args, **kwargs)
    y = _call_with(call, self, x, "use_running_average", True)
    _call_with(call, self, x, "use_running_average", False)
    return y


@mutant("bn_eval_batch_stats", *BATCHNORMS)
def _(call, self, x, *args, **kwargs):
    if not hit(_flag(self, "use_running_average", args, kwargs)):
        return call(self, x, *args, **kwargs)
    with _statistics_kept(self):
        return _call_with(call, self, x, "use_running_average", False)


@mutant("bn_unbiased_variance", *COMPUTE_STATS, bind=True)
def _(compute_stats, **a):
    mean, var = compute_stats(**a)
    axes = (a["axes"],) if isinstance(a["axes"], int) else a["axes"]
    n = math.prod(a["x"].shape[k] for k in axes)
    return (mean, var * n / (n - 1)) if hit(n >= 2) else (mean, var)


@mutant("bn_eps_outside_sqrt", *NORMALIZE, bind=True)
def _(normalize, **a):
    hit()   # rsqrt(var' + 0) = 1 / (sqrt(var) + eps)
    return normalize(**{**a, "var": (jnp.sqrt(a["var"]) + a["epsilon"]) ** 2, "epsilon": 0.0})


@mutant("bn_affine_ignored", *NORMALIZE, bind=True)
def _(normalize, **a):
    hit()   # linen creates and applies the params in _normalize
    return normalize(**{**a, **({"use_scale": False, "use_bias": False} if "use_scale" in a else {"scale": None, "bias": None})})


def _training(self, args, kwargs):
    return not _flag(self, "deterministic", args, kwargs) and 0.0 < self.rate < 1.0


@mutant("do_eval_active", *DROPOUTS)
def _(call, self, x, *args, **kwargs):
    if not hit(_flag(self, "deterministic", args, kwargs) and 0.0 < self.rate < 1.0):
        return call(self, x, *args, **kwargs)
    if isinstance(self, linen.Dropout):
        return _call_with(call, self, x, "deterministic", False, rng=jax.random.key(0))
    return _call_with(call, self, x, "deterministic", False, rngs=self.rngs or jax.random.key(0))


@mutant("do_unscaled", *DROPOUTS)
def _(call, self, x, *args, **kwargs):
    y = call(self, x, *args, **kwargs)
    return y * (1 - self.rate) if hit(_training(self, args, kwargs)) else y


@mutant("do_rate_off", *DROPOUTS)
def _(call, self, x, *args, **kwargs):
    if not hit(_training(self, args, kwargs)):
        return call(self, x, *args, **kwargs)
    with fields(self, rate=0.9 * self.rate):
        return call(self, x, *args, **kwargs)


@mutant("do_broadcast_ignored", *DROPOUTS)
def _(call, self, x, *args, **kwargs):
    if not hit(_training(self, args, kwargs) and self.broadcast_dims):
        return call(self, x, *args, **kwargs)
    with fields(self, broadcast_dims=()):
        return call(self, x, *args, **kwargs)


@mutant("do_grad_unscaled", *DROPOUTS)
def _(call, self, x, *args, **kwargs):
    y = call(self, x, *args, **kwargs)
    if not hit(_training(self, args, kwargs)):
        return y
    kept = x * (y != 0).astype(x.dtype)
    return jax.lax.stop_gradient(y) + kept - jax.lax.stop_gradient(kept)


@mutant("do_constant_key", *DROPOUTS)
def _(call, self, x, *args, **kwargs):
    if hit(_training(self, args, kwargs)):
        kwargs = {**kwargs, "rng" if isinstance(self, linen.Dropout) else "rngs": jax.random.key(0)}
    return call(self, x, *args, **kwargs)
