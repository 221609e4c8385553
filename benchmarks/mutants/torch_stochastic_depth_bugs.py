"""Semantic bugs injected into torchvision's stochastic depth (see benchmarks/mutants/__init__.py).

Each mutant replaces torchvision.ops.stochastic_depth.stochastic_depth, the function StochasticDepth.forward
looks up at call time in its module (and the public torchvision.ops.stochastic_depth with it); the wrapper
receives (input, p, mode, training) and is wrong in one behaviour only.
"""
import functools
import sys

import torch.nn.functional as F
import torchvision.ops

from benchmarks.mutants import hit, mutant

MODULE = sys.modules["torchvision.ops.stochastic_depth"]


def _patch(make):
    original = MODULE.stochastic_depth
    wrapper = functools.wraps(original)(make(original))
    MODULE.stochastic_depth = torchvision.ops.stochastic_depth = wrapper


def _draws(p, training):
    return training and 0 < p < 1


@mutant("sd_p_as_survival", "stochastic depth reads p as the survival rate: rows are kept with probability p")
def _():
    def make(original):
        def wrapper(input, p, mode, training=True):
            if _draws(p, training):
                hit()
                p = 1.0 - p
            return original(input, p, mode, training)
        return wrapper
    _patch(make)


@mutant("sd_no_rescale", "stochastic depth keeps the surviving rows unscaled (no 1 / (1 - p))")
def _():
    def make(original):
        def wrapper(input, p, mode, training=True):
            out = original(input, p, mode, training)
            if _draws(p, training):
                hit()
                return out * (1.0 - p)
            return out
        return wrapper
    _patch(make)


@mutant("sd_row_per_element", "mode row draws one Bernoulli per element instead of one per row")
def _():
    def make(original):
        def wrapper(input, p, mode, training=True):
            if mode == "row" and _draws(p, training):
                hit()
                return F.dropout(input, p, training=True)
            return original(input, p, mode, training)
        return wrapper
    _patch(make)


@mutant("sd_batch_as_row", "mode batch draws one Bernoulli per row instead of one per call")
def _():
    def make(original):
        def wrapper(input, p, mode, training=True):
            if mode == "batch" and _draws(p, training):
                hit()
                mode = "row"
            return original(input, p, mode, training)
        return wrapper
    _patch(make)


@mutant("sd_applied_in_eval", "stochastic depth ignores the training flag: rows are dropped in eval() too")
def _():
    def make(original):
        def wrapper(input, p, mode, training=True):
            if not training and p > 0:
                hit()
            return original(input, p, mode, True)
        return wrapper
    _patch(make)


@mutant("sd_p_unchecked", "stochastic depth accepts p outside [0, 1], clamping it instead of raising")
def _():
    def make(original):
        def wrapper(input, p, mode, training=True):
            if not 0 <= p <= 1:
                hit()
                p = min(max(p, 0.0), 1.0)
            return original(input, p, mode, training)
        return wrapper
    _patch(make)
