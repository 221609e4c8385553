"""Semantic bugs injected into PaddlePaddle's RReLU (see benchmarks/mutants/__init__.py for the machinery).

Each mutant replaces ``paddle.nn.functional.rrelu`` (paddle.nn.RReLU.forward calls ``F.rrelu``) or the layer's
defaults, the way paddle_bugs.py patches the dropout functions: the layer still runs, returns the right shape and
dtype, and is wrong in one behaviour only.
"""
import numpy as np
import paddle
import paddle.nn.functional as F

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.paddle_bugs import _patch


def _with_slopes(x, a):
    """y = x (x >= 0), a x (x < 0) for a tensor of slopes a: differentiable in x, dL/dx = dy a (computed in float32
    at least: paddle's CPU multiply and where have no float16 kernels, the rrelu kernel has)."""
    wide = x.astype("float64" if x.dtype == paddle.float64 else "float32")
    return paddle.where(wide >= 0, wide, wide * a.astype(wide.dtype)).astype(x.dtype)


def _numpy_slopes(rng, x, lower, upper):
    return paddle.to_tensor(rng.uniform(lower, upper, tuple(x.shape)))


@mutant("rrelu_train_fixed_slope", "training uses the inference slope (lower + upper) / 2: no noise")
def _():
    def make(rrelu):
        def wrapper(**a):
            if a["training"]:
                hit()
                a["training"] = False
            return rrelu(**a)
        return wrapper
    _patch(F, "rrelu", make)


@mutant("rrelu_eval_random", "inference draws random slopes as in training")
def _():
    def make(rrelu):
        def wrapper(**a):
            if not a["training"]:
                hit()
                a["training"] = True
            return rrelu(**a)
        return wrapper
    _patch(F, "rrelu", make)


@mutant("rrelu_lower_ignored", "training slopes drawn from U(0, upper): the lower bound dropped")
def _():
    def make(rrelu):
        def wrapper(**a):
            if a["training"] and a["lower"] != 0:
                hit()
                a["lower"] = 0.0
            return rrelu(**a)
        return wrapper
    _patch(F, "rrelu", make)


@mutant("rrelu_eval_lower_slope", "inference uses the slope lower instead of (lower + upper) / 2")
def _():
    def make(rrelu):
        def wrapper(**a):
            if not a["training"]:
                hit()
                return F.leaky_relu(a["x"], a["lower"])
            return rrelu(**a)
        return wrapper
    _patch(F, "rrelu", make)


@mutant("rrelu_one_slope_per_tensor", "training draws one slope for the whole tensor, not one per element")
def _():
    def make(rrelu):
        def wrapper(**a):
            if a["training"]:
                hit()
                x = a["x"]
                return _with_slopes(x, paddle.uniform([1], dtype="float32", min=a["lower"], max=a["upper"]).expand(x.shape))
            return rrelu(**a)
        return wrapper
    _patch(F, "rrelu", make)


@mutant("rrelu_grad_mean_slope", "the training gradient uses the mean slope, not the drawn noise")
def _():
    def make(rrelu):
        def wrapper(**a):
            if a["training"] and not a["x"].stop_gradient:
                hit()
                y, mean = rrelu(**a), rrelu(**{**a, "training": False})
                return mean + (y - mean).detach()
            return rrelu(**a)
        return wrapper
    _patch(F, "rrelu", make)


@mutant("rrelu_grad_fresh_noise", "the training gradient uses a second draw, not the forward's noise")
def _():
    def make(rrelu):
        def wrapper(**a):
            if a["training"] and not a["x"].stop_gradient:
                hit()
                y, other = rrelu(**a), rrelu(**a)
                return y.detach() + (other - other.detach())
            return rrelu(**a)
        return wrapper
    _patch(F, "rrelu", make)


@mutant("rrelu_unseeded", "training slopes come from a generator paddle.seed does not seed")
def _():
    rng = np.random.default_rng()
    def make(rrelu):
        def wrapper(**a):
            if a["training"]:
                hit()
                return _with_slopes(a["x"], _numpy_slopes(rng, a["x"], a["lower"], a["upper"]))
            return rrelu(**a)
        return wrapper
    _patch(F, "rrelu", make)


@mutant("rrelu_same_noise", "every training call redraws the same slopes (a generator reseeded with 0 per call)")
def _():
    def make(rrelu):
        def wrapper(**a):
            if a["training"]:
                hit()
                return _with_slopes(a["x"], _numpy_slopes(np.random.default_rng(0), a["x"], a["lower"], a["upper"]))
            return rrelu(**a)
        return wrapper
    _patch(F, "rrelu", make)


@mutant("rrelu_default_upper", "paddle.nn.RReLU's default upper is 0.3 instead of 1/3")
def _():
    init = paddle.nn.RReLU.__init__
    defaults = init.__defaults__

    def __init__(self, lower=defaults[0], upper=0.3, name=defaults[2]):
        if upper == 0.3:
            hit()
        init(self, lower, upper, name)
    paddle.nn.RReLU.__init__ = __init__
