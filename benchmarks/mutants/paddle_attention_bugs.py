"""Semantic bugs injected into paddle.nn.MultiHeadAttention (see benchmarks/mutants/__init__.py).

Its forward drops the softmax weights with F.dropout(weights, self.dropout, training=self.training,
mode="upscale_in_train"), F being paddle.nn.functional looked up at call time. Each mutant wraps forward and changes
one thing for the duration of the call; the layer still runs and returns the right shapes.
"""
import contextlib
import functools

import paddle.nn.functional as F
from paddle.nn import MultiHeadAttention

from benchmarks.mutants import hit, mutant


@contextlib.contextmanager
def _set(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _wrap_forward(context):
    """MultiHeadAttention.forward run inside context(layer) (a context manager, or None for no change)."""
    original = MultiHeadAttention.forward

    @functools.wraps(original)
    def forward(self, *args, **kwargs):
        change = context(self)
        if change is None:
            return original(self, *args, **kwargs)
        hit()
        with change:
            return original(self, *args, **kwargs)
    MultiHeadAttention.forward = forward


@mutant("attn_dropout_in_eval", "the attention weights are dropped in eval() too (self.training ignored)")
def _():
    _wrap_forward(lambda layer: _set(layer, "training", True) if not layer.training and layer.dropout else None)


@mutant("attn_rate_complement", "the attention weights are dropped with probability 1 - dropout")
def _():
    _wrap_forward(lambda layer: _set(layer, "dropout", 1.0 - layer.dropout) if layer.training and layer.dropout else None)


@mutant("attn_not_rescaled", "the weights are dropped with mode='downscale_in_infer': kept ones not scaled by 1/(1-p) in training")
def _():
    dropout = F.dropout

    def downscaled(x, p=0.5, axis=None, training=True, mode="upscale_in_train", name=None):
        return dropout(x, p, axis=axis, training=training, mode="downscale_in_infer", name=name)
    _wrap_forward(lambda layer: _set(F, "dropout", downscaled) if layer.training and layer.dropout else None)
