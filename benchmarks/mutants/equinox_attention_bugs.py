"""Bugs of eqx.nn.MultiheadAttention: each replaces equinox.nn._attention.dot_product_attention (looked up at call
time), which drops the softmax weights with the layer's eqx.nn.Dropout before the product with the values."""
import equinox as eqx

from benchmarks.mutants.kit import hit, mutant

ATTENTION = "equinox.nn._attention.dot_product_attention"


def _active(dropout, inference):
    return dropout is not None and dropout.p > 0 and not (dropout.inference if inference is None else inference)


@mutant("attn_inference_ignored", ATTENTION)
def _(original, query, key_, value, mask=None, dropout=None, *, key=None, inference=None):
    if hit(dropout is not None and dropout.p > 0 and not _active(dropout, inference)):
        return original(query, key_, value, mask, eqx.nn.Dropout(dropout.p), key=key, inference=False)
    return original(query, key_, value, mask, dropout, key=key, inference=inference)


@mutant("attn_rate_complement", ATTENTION)
def _(original, query, key_, value, mask=None, dropout=None, *, key=None, inference=None):
    if hit(_active(dropout, inference)):
        dropout = eqx.nn.Dropout(1.0 - dropout.p)
    return original(query, key_, value, mask, dropout, key=key, inference=inference)


@mutant("attn_not_rescaled", ATTENTION)
def _(original, query, key_, value, mask=None, dropout=None, *, key=None, inference=None):
    out = original(query, key_, value, mask, dropout, key=key, inference=inference)
    return out * (1.0 - dropout.p) if hit(_active(dropout, inference)) else out
