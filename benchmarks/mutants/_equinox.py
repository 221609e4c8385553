"""Equinox mutants both BatchNorm modes share (see benchmarks/mutants/__init__.py): the editing helpers, the
BatchNorm mutants of the lines both modes run (_stats, _norm) and the Dropout mutants. Imported by equinox_bugs
(mode "batch") and equinox_ema_bugs (mode "ema"), each adding the mutants of its own mode's lines.

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


def bn(*replacements):
    _edit(eqx.nn.BatchNorm, *replacements)


def dropout(*replacements):
    _edit(eqx.nn.Dropout, *replacements)


# ---------------------------------------------------------------- BatchNorm, both modes

@mutant("bn_eps_outside_sqrt", "y = (x - mean) / (sqrt(var) + eps) instead of / sqrt(var + eps)")
def _():
    bn(("out = (y - m) / jnp.sqrt(v + self.eps)", "out = _hit((y - m) / (jnp.sqrt(v) + self.eps))"))


@mutant("bn_variance_uncentred", "batch variance E[x^2] instead of E[(x - mean)^2]")
def _():
    bn(("var = jnp.mean((y - mean) * jnp.conj(y - mean))", "var = _hit(jnp.mean(y * jnp.conj(y)))"))


@mutant("bn_unbiased_variance", "batch variance with Bessel's correction n / (n - 1), n counted over the named batch axis")
def _():
    bn(("var = jnp.maximum(0.0, var)",
        "var = _hit(jnp.maximum(0.0, var) * (lambda n: n / (n - 1))(lax.psum(y.size, self.axis_name)))"))


@mutant("bn_affine_order", "y = (xhat + beta) * gamma instead of xhat * gamma + beta")
def _():
    bn(("out = out * w + b", "out = _hit((out + b) * w)"))


# ---------------------------------------------------------------- Dropout

@mutant("do_inference_ignored", "the inference attribute is ignored (eqx.nn.inference_mode has no effect): dropout also in inference")
def _():
    dropout(("inference = self.inference", "inference = _hit(False)"))


@mutant("do_unscaled", "training dropout returns x * mask, without the 1 / (1 - p) scale")
def _():
    dropout(("return jnp.where(mask, x / q, 0)", "return _hit(jnp.where(mask, x, 0))"))


@mutant("do_keep_probability", "p used as the keep probability: bernoulli(key, p) with the 1 / (1 - p) scale")
def _():
    dropout(("mask = jrandom.bernoulli(key, q, x.shape)", "mask = _hit(jrandom.bernoulli(key, 1 - q, x.shape))"))


@mutant("do_grad_unscaled", "dropout's gradient is dy * mask, without the 1 / (1 - p) scale")
def _():
    dropout(("return jnp.where(mask, x / q, 0)",
              "return _hit(jnp.where(mask, x + lax.stop_gradient(x / q - x), 0))"))
