"""Semantic bugs injected into Flax's attention, linen and nnx alike (see benchmarks/mutants/__init__.py).

Each mutant replaces ``dot_product_attention_weights`` of flax.linen.attention and of flax.nnx.nn.attention (the
softmax and the dropout of the weights; each module's dot_product_attention looks it up at call time), so one
module serves flax-linen and flax-nnx. The layers still run and return the right shapes.
"""
import functools
import inspect

import jax
from flax.linen import attention as linen_attention
from flax.nnx.nn import attention as nnx_attention

from benchmarks.mutants import hit, mutant


def _patch_weights(change):
    """Replace dot_product_attention_weights of both modules; change(original, arguments) gets bound arguments."""
    for module in (linen_attention, nnx_attention):
        original = module.dot_product_attention_weights
        signature = inspect.signature(original)

        def wrapper(*args, _original=original, _signature=signature, **kwargs):
            bound = _signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return change(_original, bound.arguments)
        module.dot_product_attention_weights = functools.wraps(original)(wrapper)


def _dropping(a) -> bool:
    return not a["deterministic"] and a["dropout_rate"] > 0


@mutant("attn_deterministic_ignored", "deterministic=True still drops the attention weights (inference mode ignored)")
def _():
    def change(original, a):
        if a["deterministic"] and a["dropout_rate"] > 0:
            hit()
            a["deterministic"] = False
            a["dropout_rng"] = jax.random.key(0) if a["dropout_rng"] is None else a["dropout_rng"]
        return original(**a)
    _patch_weights(change)


@mutant("attn_rate_complement", "the attention weights are dropped with probability 1 - dropout_rate")
def _():
    def change(original, a):
        if _dropping(a):
            hit()
            a["dropout_rate"] = 1.0 - a["dropout_rate"]
        return original(**a)
    _patch_weights(change)


@mutant("attn_not_rescaled", "the kept attention weights are not scaled by 1/(1 - rate)")
def _():
    def change(original, a):
        if not _dropping(a):
            return original(**a)
        hit()
        return original(**a) * (1.0 - a["dropout_rate"])
    _patch_weights(change)


@mutant("attn_broadcast_flipped", "broadcast_dropout read the wrong way round: a mask per batch element and head by default")
def _():
    def change(original, a):
        if _dropping(a):
            hit()
            a["broadcast_dropout"] = not a["broadcast_dropout"]
        return original(**a)
    _patch_weights(change)
