"""Semantic bugs injected into Equinox's own layer code (see benchmarks/mutants/__init__.py).

Each mutant replaces ``eqx.nn.BatchNorm.__call__`` or ``eqx.nn.Dropout.__call__`` by a copy of its source with one
realistic bug edited in (a line of the real method changed, compiled in the method's own module namespace), and a
marker ``_hit(...)`` around the edited expression that counts the calls it changes. The layer runs, returns the
right shape and dtype, and is wrong in one behaviour only. Read against equinox 0.13.0 to 0.13.8 (the methods
are the same there); an edit that no longer matches the source raises, so a changed upstream is noticed.
"""
import inspect
import re
import sys
import textwrap

import equinox as eqx

from benchmarks.mutants import hit, mutant


def _hit(value=None):
    """The edited expression's value, counting the call (at trace time under jit)."""
    hit()
    return value


def _edit(cls, *replacements):
    """Replace cls.__call__ by its own source with each (old, new) replacement made exactly once; ``old`` matches
    whatever whitespace (line breaks, indentation) separates its tokens in the source."""
    original = cls.__call__
    source = textwrap.dedent(inspect.getsource(original))
    for old, new in replacements:
        pattern = re.compile(r"\s*".join(map(re.escape, old.split())))
        if len(pattern.findall(source)) != 1:
            raise RuntimeError(f"{cls.__name__}.__call__ of equinox {eqx.__version__} has {len(pattern.findall(source))} copies of {old!r}")
        source = pattern.sub(lambda _, new=new: new, source)
    namespace = {**vars(sys.modules[original.__module__]), "_hit": _hit}
    exec(compile(source, f"<mutant of {original.__module__}.{cls.__name__}.__call__>", "exec"), namespace)
    cls.__call__ = namespace["__call__"]


def _bn(*replacements):
    _edit(eqx.nn.BatchNorm, *replacements)


def _dropout(*replacements):
    _edit(eqx.nn.Dropout, *replacements)


# ---------------------------------------------------------------- BatchNorm, mode "batch"

@mutant("bn_momentum_reversed", "running update weights the batch by momentum (PyTorch's meaning in an Equinox layer)")
def _():
    _bn(("new_hidden_mean = hidden_mean * self.momentum + mean * ( 1 - self.momentum )",
         "new_hidden_mean = _hit(hidden_mean * (1 - self.momentum) + mean * self.momentum)"),
        ("new_hidden_var = hidden_var * self.momentum + var * (1 - self.momentum)",
         "new_hidden_var = hidden_var * (1 - self.momentum) + var * self.momentum"))


@mutant("bn_running_var_stale", "the running variance is never updated (the new mean is, the variance keeps its old value)")
def _():
    _bn(("new_hidden_var = hidden_var * self.momentum + var * (1 - self.momentum)", "new_hidden_var = _hit(hidden_var)"))


@mutant("bn_eps_outside_sqrt", "y = (x - mean) / (sqrt(var) + eps) instead of / sqrt(var + eps)")
def _():
    _bn(("out = (y - m) / jnp.sqrt(v + self.eps)", "out = _hit((y - m) / (jnp.sqrt(v) + self.eps))"))


@mutant("bn_variance_uncentred", "batch variance E[x^2] instead of E[(x - mean)^2]")
def _():
    _bn(("var = jnp.mean((y - mean) * jnp.conj(y - mean))", "var = _hit(jnp.mean(y * jnp.conj(y)))"))


@mutant("bn_unbiased_variance", "batch variance with Bessel's correction n / (n - 1), n counted over the named batch axis")
def _():
    _bn(("var = jnp.maximum(0.0, var)",
         "var = _hit(jnp.maximum(0.0, var) * (lambda n: n / (n - 1))(lax.psum(y.size, self.axis_name)))"))


@mutant("bn_affine_order", "y = (xhat + beta) * gamma instead of xhat * gamma + beta")
def _():
    _bn(("out = out * w + b", "out = _hit((out + b) * w)"))


@mutant("bn_eval_batch_stats", "inference normalises with the batch statistics (running statistics left alone)")
def _():
    _bn(("mean = hidden_mean / scale var = hidden_var / scale",
         "mean, var = _hit(jax.vmap(_stats)(x))"))


@mutant("bn_debias_unguarded", "inference divides by 1 - momentum^k also for k = 0 training steps (equinox#1010, before its fix)")
def _():
    _bn(("scale = jnp.where(counter == 0, 1, 1 - self.momentum**counter)", "scale = _hit(1 - self.momentum**counter)"))


@mutant("bn_stats_constant", "training treats the batch statistics as constants (no gradient through mean and variance)")
def _():
    _bn(("mean, var = jax.vmap(_stats)(x)", "mean, var = _hit(lax.stop_gradient(jax.vmap(_stats)(x)))"))


# ---------------------------------------------------------------- Dropout

@mutant("do_inference_ignored", "the inference attribute is ignored (eqx.nn.inference_mode has no effect): dropout also in inference")
def _():
    _dropout(("inference = self.inference", "inference = _hit(False)"))


@mutant("do_unscaled", "training dropout returns x * mask, without the 1 / (1 - p) scale")
def _():
    _dropout(("return jnp.where(mask, x / q, 0)", "return _hit(jnp.where(mask, x, 0))"))


@mutant("do_keep_probability", "p used as the keep probability: bernoulli(key, p) with the 1 / (1 - p) scale")
def _():
    _dropout(("mask = jrandom.bernoulli(key, q, x.shape)", "mask = _hit(jrandom.bernoulli(key, 1 - q, x.shape))"))


@mutant("do_grad_unscaled", "dropout's gradient is dy * mask, without the 1 / (1 - p) scale")
def _():
    _dropout(("return jnp.where(mask, x / q, 0)",
              "return _hit(jnp.where(mask, x + lax.stop_gradient(x / q - x), 0))"))
