"""Semantic bugs injected into PyTorch (see benchmarks/mutants/__init__.py for the machinery).

Each mutant replaces a function of ``torch.nn.functional`` (the modules look these up at call time,
``F.batch_norm(...)``, so ``torch.nn.BatchNorm2d`` and friends pick the mutant up). Each mutant is a
realistic implementation bug, not an arbitrary perturbation: the layer still runs, returns the right
shape and dtype, and is wrong in one behaviour only.
"""

import functools
import inspect

import torch
import torch.nn.functional as F

from benchmarks.mutants import hit, mutant

SELU_ALPHA = 1.6732632423543772          # SELU's alpha: the wrong constant for alpha dropout
ALPHA_PRIME = 1.7580993408473766         # -SELU scale * alpha: the right one


def _patch(name, make):
    """Replace F.<name> by make(original, signature); the wrapper receives bound arguments as a dict.

    The mutant applies once per call: under a __torch_function__ mode (torch.export's tracing) the original
    re-dispatches through handle_torch_function(F.<name>, ...), which is the wrapper again; that inner call
    runs the original as it is (a mutant applied twice may undo itself, as 1 - (1 - momentum) does)."""
    original = getattr(F, name)
    signature = inspect.signature(original)
    body = make(original)
    active = []

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if active:
            return original(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        active.append(name)
        try:
            return body(**bound.arguments)
        finally:
            active.pop()

    setattr(F, name, wrapper)


def _stat_axes(x):
    return [0, *range(2, x.ndim)]


def _channel_view(t, x):
    return t.reshape(1, -1, *([1] * (x.ndim - 2)))


# ---------------------------------------------------------------- BatchNorm

@mutant("bn_momentum_reversed", "running update uses 1 - momentum (Keras meaning in a PyTorch layer)")
def _():
    def make(bn):
        def batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps):
            if training and running_mean is not None:
                hit()
                momentum = 1.0 - momentum
            return bn(input, running_mean, running_var, weight, bias, training, momentum, eps)
        return batch_norm
    _patch("batch_norm", make)


@mutant("bn_running_var_biased", "running variance updated with the biased batch variance (no n/(n-1))")
def _():
    def make(bn):
        def batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps):
            if not (training and running_var is not None):
                return bn(input, running_mean, running_var, weight, bias, training, momentum, eps)
            hit()
            old = running_var.detach().clone()
            # the original updates a copy (autograd may save it for backward); the buffer gets the biased update
            out = bn(input, running_mean, running_var.clone(), weight, bias, training, momentum, eps)
            with torch.no_grad():
                biased = input.detach().double().var(dim=_stat_axes(input), correction=0)
                running_var.copy_((1 - momentum) * old.double() + momentum * biased)
            return out
        return batch_norm
    _patch("batch_norm", make)


@mutant("bn_eval_batch_stats", "inference normalizes with the batch statistics (running statistics left alone)")
def _():
    def make(bn):
        def batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps):
            if not training:
                hit()
                return bn(input, None, None, weight, bias, True, momentum, eps)
            return bn(input, running_mean, running_var, weight, bias, training, momentum, eps)
        return batch_norm
    _patch("batch_norm", make)


@mutant("bn_train_running_stats", "training normalizes with the running statistics (which are still updated)")
def _():
    def make(bn):
        def batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps):
            if not (training and running_mean is not None):
                return bn(input, running_mean, running_var, weight, bias, training, momentum, eps)
            hit()
            out = bn(input, running_mean.clone(), running_var.clone(), weight, bias, False, momentum, eps)
            with torch.no_grad():
                bn(input.detach(), running_mean, running_var, None, None, True, momentum, eps)
            return out
        return batch_norm
    _patch("batch_norm", make)


@mutant("bn_eps_outside_sqrt", "y = (x - mean) / (sqrt(var) + eps) instead of / sqrt(var + eps)")
def _():
    def make(bn):
        def batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps):
            hit()
            x = input if weight is None else input.to(torch.promote_types(input.dtype, weight.dtype))
            if training:
                mean = x.mean(dim=_stat_axes(x))
                var = x.var(dim=_stat_axes(x), correction=0)
                if running_mean is not None:      # the running update itself stays right
                    with torch.no_grad():
                        bn(input.detach(), running_mean, running_var, None, None, True, momentum, eps)
            else:
                mean, var = running_mean, running_var
            y = (x - _channel_view(mean, x)) / (_channel_view(var, x).sqrt() + eps)
            if weight is not None:
                y = y * _channel_view(weight, x)
            if bias is not None:
                y = y + _channel_view(bias, x)
            return y.to(input.dtype)
        return batch_norm
    _patch("batch_norm", make)


@mutant("bn_affine_ignored", "gamma and beta are not applied (weight=None, bias=None)")
def _():
    def make(bn):
        def batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps):
            if weight is not None or bias is not None:
                hit()
            return bn(input, running_mean, running_var, None, None, training, momentum, eps)
        return batch_norm
    _patch("batch_norm", make)


@mutant("bn_instance_axes", "training statistics per (sample, channel) over the spatial axes only (instance norm)")
def _():
    def make(bn):
        def batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps):
            if training and input.ndim > 2:
                hit()
                return F.instance_norm(input, running_mean, running_var, weight, bias,
                                       use_input_stats=True, momentum=momentum, eps=eps)
            return bn(input, running_mean, running_var, weight, bias, training, momentum, eps)
        return batch_norm
    _patch("batch_norm", make)


# ---------------------------------------------------------------- Dropout

@mutant("do_unscaled", "training dropout returns x * mask, without the 1 / (1 - p) scale")
def _():
    def make(dropout):
        def wrapper(input, p, training, inplace):
            if training and 0 < p < 1:
                hit()
                return dropout(input, p, training, inplace) * (1 - p)
            return dropout(input, p, training, inplace)
        return wrapper
    _patch("dropout", make)


@mutant("do_rate_off", "drops with probability 0.9 p (and scales by 1 / (1 - 0.9 p))")
def _():
    def make(dropout):
        def wrapper(input, p, training, inplace):
            if training and 0 < p <= 1:
                hit()
                p = 0.9 * p
            return dropout(input, p, training, inplace)   # p outside [0, 1] still rejected as given
        return wrapper
    _patch("dropout", make)


@mutant("do_eval_active", "dropout also drops in inference (training forced to True)")
def _():
    def make(dropout):
        def wrapper(input, p, training, inplace):
            if not training:
                hit()
            return dropout(input, p, True, inplace)
        return wrapper
    _patch("dropout", make)


@mutant("do_2d_elementwise", "Dropout2d drops single elements instead of whole channels")
def _():
    def make(dropout2d):
        def wrapper(input, p, training, inplace):
            if training:
                hit()
                return F.dropout(input, p, training, inplace)
            return dropout2d(input, p, training, inplace)
        return wrapper
    _patch("dropout2d", make)


class _UnscaledGrad(torch.autograd.Function):
    """y = x * m (m in {0, 1/(1-p)}); backward returns dy * (m != 0), forgetting the scale."""

    @staticmethod
    def forward(ctx, x, m):
        ctx.save_for_backward(m)
        return x * m

    @staticmethod
    def backward(ctx, dy):
        (m,) = ctx.saved_tensors
        return dy * (m != 0).to(dy.dtype), None


@mutant("do_grad_unscaled", "dropout backward passes dy * mask, without the 1 / (1 - p) scale")
def _():
    def make(dropout):
        def wrapper(input, p, training, inplace):
            if training and 0 < p < 1 and not inplace:
                hit()
                return _UnscaledGrad.apply(input, dropout(torch.ones_like(input), p, True, False))
            return dropout(input, p, training, inplace)
        return wrapper
    _patch("dropout", make)


@mutant("do_alpha_coefficient", "alpha dropout's a computed with SELU alpha 1.6733 instead of alpha' 1.7581")
def _():
    def make(alpha_dropout):
        def wrapper(input, p, training, inplace):
            if not (training and 0 < p < 1):
                return alpha_dropout(input, p, training, inplace)
            hit()
            keep = torch.bernoulli(torch.full_like(input, 1 - p))
            a = ((1 - p) * (1 + p * SELU_ALPHA**2)) ** -0.5
            b = a * ALPHA_PRIME * p
            return a * (input * keep - ALPHA_PRIME * (1 - keep)) + b
        return wrapper
    _patch("alpha_dropout", make)
