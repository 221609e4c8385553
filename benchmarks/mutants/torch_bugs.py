"""Bugs of PyTorch: each replaces a function of ``torch.nn.functional``, which the modules look up at call time
(``F.batch_norm(...)``), so torch.nn.BatchNorm2d and friends pick the mutant up. Under a __torch_function__ mode
(torch.export's tracing) the original re-dispatches to the replacement, which then runs it unchanged (``once``: a
mutant applied twice may undo itself, as 1 - (1 - momentum) does)."""
import torch
import torch.nn.functional as F

from benchmarks.mutants.kit import hit, mutant

SELU_ALPHA = 1.6732632423543772          # SELU's alpha: the wrong constant for alpha dropout
ALPHA_PRIME = 1.7580993408473766         # -SELU scale * alpha: the right one
BN, DROPOUT = (F, "batch_norm"), (F, "dropout")


def functional(name, target):
    """mutant ``name`` replacing F.<target> (once, its arguments bound by name)."""
    return mutant(name, (F, target) if isinstance(target, str) else target, bind=True, once=True)


def _stat_axes(x):
    return [0, *range(2, x.ndim)]


def _channel_view(t, x):
    return t.reshape(1, -1, *([1] * (x.ndim - 2)))


@functional("bn_momentum_reversed", BN)
def _(bn, input, running_mean, running_var, weight, bias, training, momentum, eps):
    if hit(training and running_mean is not None):
        momentum = 1.0 - momentum
    return bn(input, running_mean, running_var, weight, bias, training, momentum, eps)


@functional("bn_running_var_biased", BN)
def _(bn, input, running_mean, running_var, weight, bias, training, momentum, eps):
    if not hit(training and running_var is not None):
        return bn(input, running_mean, running_var, weight, bias, training, momentum, eps)
    old = running_var.detach().clone()
    # the original updates a copy (autograd may save it for backward); the buffer gets the biased update
    out = bn(input, running_mean, running_var.clone(), weight, bias, training, momentum, eps)
    with torch.no_grad():
        biased = input.detach().double().var(dim=_stat_axes(input), correction=0)
        running_var.copy_((1 - momentum) * old.double() + momentum * biased)
    return out


@functional("bn_eval_batch_stats", BN)
def _(bn, input, running_mean, running_var, weight, bias, training, momentum, eps):
    if hit(not training):
        return bn(input, None, None, weight, bias, True, momentum, eps)
    return bn(input, running_mean, running_var, weight, bias, training, momentum, eps)


@functional("bn_train_running_stats", BN)
def _(bn, input, running_mean, running_var, weight, bias, training, momentum, eps):
    if not hit(training and running_mean is not None):
        return bn(input, running_mean, running_var, weight, bias, training, momentum, eps)
    out = bn(input, running_mean.clone(), running_var.clone(), weight, bias, False, momentum, eps)
    with torch.no_grad():
        bn(input.detach(), running_mean, running_var, None, None, True, momentum, eps)
    return out


@functional("bn_eps_outside_sqrt", BN)
def _(bn, input, running_mean, running_var, weight, bias, training, momentum, eps):
    hit()
    x = input if weight is None else input.to(torch.promote_types(input.dtype, weight.dtype))
    if training:
        mean, var = x.mean(dim=_stat_axes(x)), x.var(dim=_stat_axes(x), correction=0)
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


@functional("bn_affine_ignored", BN)
def _(bn, input, running_mean, running_var, weight, bias, training, momentum, eps):
    hit(weight is not None or bias is not None)
    return bn(input, running_mean, running_var, None, None, training, momentum, eps)


@functional("bn_instance_axes", BN)
def _(bn, input, running_mean, running_var, weight, bias, training, momentum, eps):
    if hit(training and input.ndim > 2):
        return F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats=True, momentum=momentum, eps=eps)
    return bn(input, running_mean, running_var, weight, bias, training, momentum, eps)


@functional("do_unscaled", DROPOUT)
def _(dropout, input, p, training, inplace):
    y = dropout(input, p, training, inplace)
    return y * (1 - p) if hit(training and 0 < p < 1) else y


@functional("do_rate_off", DROPOUT)
def _(dropout, input, p, training, inplace):
    if hit(training and 0 < p <= 1):
        p = 0.9 * p
    return dropout(input, p, training, inplace)   # p outside [0, 1] still rejected as given


@functional("do_eval_active", DROPOUT)
def _(dropout, input, p, training, inplace):
    hit(not training)
    return dropout(input, p, True, inplace)


@functional("do_2d_elementwise", "dropout2d")
def _(dropout2d, input, p, training, inplace):
    return F.dropout(input, p, training, inplace) if hit(training) else dropout2d(input, p, training, inplace)


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


@functional("do_grad_unscaled", DROPOUT)
def _(dropout, input, p, training, inplace):
    if hit(training and 0 < p < 1 and not inplace):
        return _UnscaledGrad.apply(input, dropout(torch.ones_like(input), p, True, False))
    return dropout(input, p, training, inplace)


@functional("do_alpha_coefficient", "alpha_dropout")
def _(alpha_dropout, input, p, training, inplace):
    if not hit(training and 0 < p < 1):
        return alpha_dropout(input, p, training, inplace)
    keep = torch.bernoulli(torch.full_like(input, 1 - p))
    a = ((1 - p) * (1 + p * SELU_ALPHA**2)) ** -0.5
    return a * (input * keep - ALPHA_PRIME * (1 - keep)) + a * ALPHA_PRIME * p
