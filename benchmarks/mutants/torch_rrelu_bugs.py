"""Semantic bugs injected into PyTorch's RReLU (see benchmarks/mutants/__init__.py for the machinery).

Each mutant replaces ``torch.nn.functional.rrelu`` (torch.nn.RReLU.forward looks it up at call time) or the
module's defaults, the way torch_bugs.py patches F.batch_norm: the layer still runs, returns the right shape and
dtype, and is wrong in one behaviour only.
"""
import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.torch_bugs import _patch


def _with_slopes(input, a):
    """y = x (x >= 0), a x (x < 0) for a tensor of slopes a: differentiable in x, dL/dx = dy a."""
    return torch.where(input >= 0, input, input * a.to(input.dtype))


def _numpy_slopes(rng, input, lower, upper):
    return torch.from_numpy(rng.uniform(lower, upper, tuple(input.shape))).to(input.device)


@mutant("rrelu_train_fixed_slope", "training uses the inference slope (lower + upper) / 2: no noise")
def _():
    def make(rrelu):
        def wrapper(**a):
            if a["training"]:
                hit()
                a["training"] = False
            return rrelu(**a)
        return wrapper
    _patch("rrelu", make)


@mutant("rrelu_eval_random", "inference draws random slopes as in training")
def _():
    def make(rrelu):
        def wrapper(**a):
            if not a["training"]:
                hit()
                a["training"] = True
            return rrelu(**a)
        return wrapper
    _patch("rrelu", make)


@mutant("rrelu_lower_ignored", "training slopes drawn from U(0, upper): the lower bound dropped")
def _():
    def make(rrelu):
        def wrapper(**a):
            if a["training"] and a["lower"] != 0:
                hit()
                a["lower"] = 0.0
            return rrelu(**a)
        return wrapper
    _patch("rrelu", make)


@mutant("rrelu_eval_lower_slope", "inference uses the slope lower instead of (lower + upper) / 2")
def _():
    def make(rrelu):
        def wrapper(**a):
            if not a["training"]:
                hit()
                return F.leaky_relu(a["input"], a["lower"])
            return rrelu(**a)
        return wrapper
    _patch("rrelu", make)


@mutant("rrelu_one_slope_per_tensor", "training draws one slope for the whole tensor, not one per element")
def _():
    def make(rrelu):
        def wrapper(**a):
            if a["training"]:
                hit()
                x = a["input"]
                rrelu(**a)   # the kernel's dtype errors stay (CPU float16)
                slope = torch.empty((), dtype=torch.float64).uniform_(a["lower"], a["upper"])
                return _with_slopes(x, slope.expand(x.shape))
            return rrelu(**a)
        return wrapper
    _patch("rrelu", make)


@mutant("rrelu_grad_mean_slope", "the training gradient uses the mean slope, not the drawn noise")
def _():
    def make(rrelu):
        def wrapper(**a):
            if a["training"] and a["input"].requires_grad:
                hit()
                y, mean = rrelu(**a), rrelu(**{**a, "training": False})
                return mean + (y - mean).detach()
            return rrelu(**a)
        return wrapper
    _patch("rrelu", make)


@mutant("rrelu_grad_fresh_noise", "the training gradient uses a second draw, not the forward's noise")
def _():
    def make(rrelu):
        def wrapper(**a):
            if a["training"] and a["input"].requires_grad:
                hit()
                y, other = rrelu(**a), rrelu(**a)
                return y.detach() + (other - other.detach())
            return rrelu(**a)
        return wrapper
    _patch("rrelu", make)


@mutant("rrelu_unseeded", "training slopes come from a generator torch.manual_seed does not seed")
def _():
    rng = np.random.default_rng()
    def make(rrelu):
        def wrapper(**a):
            if a["training"]:
                hit()
                rrelu(**a)   # the kernel's dtype errors stay (CPU float16)
                return _with_slopes(a["input"], _numpy_slopes(rng, a["input"], a["lower"], a["upper"]))
            return rrelu(**a)
        return wrapper
    _patch("rrelu", make)


@mutant("rrelu_same_noise", "every training call redraws the same slopes (a generator reseeded with 0 per call)")
def _():
    def make(rrelu):
        def wrapper(**a):
            if a["training"]:
                hit()
                rrelu(**a)   # the kernel's dtype errors stay (CPU float16)
                return _with_slopes(a["input"], _numpy_slopes(np.random.default_rng(0), a["input"], a["lower"], a["upper"]))
            return rrelu(**a)
        return wrapper
    _patch("rrelu", make)


@mutant("rrelu_default_upper", "torch.nn.RReLU's default upper is 0.3 instead of 1/3")
def _():
    init = torch.nn.RReLU.__init__
    defaults = init.__defaults__

    def __init__(self, lower=defaults[0], upper=0.3, inplace=defaults[2]):
        if upper == 0.3:
            hit()
        init(self, lower, upper, inplace)
    torch.nn.RReLU.__init__ = __init__
