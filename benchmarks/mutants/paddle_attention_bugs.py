"""Bugs of paddle.nn.MultiHeadAttention, whose forward drops the softmax weights with F.dropout(weights, self.dropout,
training=self.training, mode="upscale_in_train") (F looked up at call time): each wraps forward and changes one
thing for the call."""
import paddle.nn.functional as F

from benchmarks.mutants.kit import attributes, hit, mutant

FORWARD = "paddle.nn.MultiHeadAttention.forward"


def _downscaled(x, p=0.5, axis=None, training=True, mode="upscale_in_train", name=None, _dropout=F.dropout):
    return _dropout(x, p, axis=axis, training=training, mode="downscale_in_infer", name=name)


def changing(context):
    """A forward run inside context(layer), a context manager, or unchanged where that is None."""
    def forward(original, self, *args, **kwargs):
        change = context(self)
        with change if hit(change is not None) else attributes(self):
            return original(self, *args, **kwargs)
    return forward


def _dropping(layer):
    return layer.training and layer.dropout


mutant("attn_dropout_in_eval", FORWARD)(
    changing(lambda layer: attributes(layer, training=True) if not layer.training and layer.dropout else None))
mutant("attn_rate_complement", FORWARD)(
    changing(lambda layer: attributes(layer, dropout=1.0 - layer.dropout) if _dropping(layer) else None))
mutant("attn_not_rescaled", FORWARD)(changing(lambda layer: attributes(F, dropout=_downscaled) if _dropping(layer) else None))
