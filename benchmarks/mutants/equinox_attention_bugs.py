"""Semantic bugs injected into eqx.nn.MultiheadAttention (see benchmarks/mutants/__init__.py).

MultiheadAttention.__call__ runs each head through equinox.nn._attention.dot_product_attention (looked up at call
time), which drops the softmax weights with the layer's eqx.nn.Dropout before the product with the values. Each
mutant replaces that function; the layer still runs and returns the right shapes.
"""
import functools

import equinox as eqx
from equinox.nn import _attention

from benchmarks.mutants import hit, mutant


def _patch(change):
    original = _attention.dot_product_attention

    @functools.wraps(original)
    def attention(query, key_, value, mask=None, dropout=None, *, key=None, inference=None):
        active = dropout is not None and dropout.p > 0 and not (dropout.inference if inference is None else inference)
        return change(original, active, (query, key_, value, mask), dropout, key, inference)
    _attention.dot_product_attention = attention


@mutant("attn_inference_ignored", "the attention weights are dropped in inference mode too")
def _():
    def change(original, active, args, dropout, key, inference):
        if dropout is not None and dropout.p > 0 and not active:
            hit()
            return original(*args, eqx.nn.Dropout(dropout.p), key=key, inference=False)
        return original(*args, dropout, key=key, inference=inference)
    _patch(change)


@mutant("attn_rate_complement", "the attention weights are dropped with probability 1 - dropout_p")
def _():
    def change(original, active, args, dropout, key, inference):
        if active:
            hit()
            dropout = eqx.nn.Dropout(1.0 - dropout.p)
        return original(*args, dropout, key=key, inference=inference)
    _patch(change)


@mutant("attn_not_rescaled", "the kept attention weights are not scaled by 1/(1 - p) (the head's output, linear in them, times 1 - p)")
def _():
    def change(original, active, args, dropout, key, inference):
        out = original(*args, dropout, key=key, inference=inference)
        if active:
            hit()
            return out * (1.0 - dropout.p)
        return out
    _patch(change)
