"""Bugs of torchvision's stochastic depth: each replaces torchvision.ops.stochastic_depth.stochastic_depth, the
function StochasticDepth.forward looks up at call time in its module, and the public torchvision.ops.stochastic_depth
with it; the replacement receives (input, p, mode, training)."""
import torch.nn.functional as F
import torchvision.ops

from benchmarks.mutants.kit import hit, mutant

TARGETS = ("torchvision.ops.stochastic_depth.stochastic_depth", (torchvision.ops, "stochastic_depth"))


def _draws(p, training):
    return training and 0 < p < 1


@mutant("sd_p_as_survival", *TARGETS)
def _(original, input, p, mode, training=True):
    return original(input, 1.0 - p if hit(_draws(p, training)) else p, mode, training)


@mutant("sd_no_rescale", *TARGETS)
def _(original, input, p, mode, training=True):
    out = original(input, p, mode, training)
    return out * (1.0 - p) if hit(_draws(p, training)) else out


@mutant("sd_row_per_element", *TARGETS)
def _(original, input, p, mode, training=True):
    return F.dropout(input, p, training=True) if hit(mode == "row" and _draws(p, training)) else original(input, p, mode, training)


@mutant("sd_batch_as_row", *TARGETS)
def _(original, input, p, mode, training=True):
    return original(input, p, "row" if hit(mode == "batch" and _draws(p, training)) else mode, training)


@mutant("sd_applied_in_eval", *TARGETS)
def _(original, input, p, mode, training=True):
    hit(not training and p > 0)
    return original(input, p, mode, True)


@mutant("sd_p_unchecked", *TARGETS)
def _(original, input, p, mode, training=True):
    return original(input, min(max(p, 0.0), 1.0) if hit(not 0 <= p <= 1) else p, mode, training)
