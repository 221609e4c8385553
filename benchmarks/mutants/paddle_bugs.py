"""Semantic bugs injected into PaddlePaddle (see benchmarks/mutants/__init__.py for the machinery).

Each mutant replaces a function the paddle.nn layers call: ``batch_norm`` as ``paddle.nn.layer.norm`` imported it
(BatchNorm1D/2D/3D call that name), and ``paddle.nn.functional.dropout`` / ``dropout2d`` / ``alpha_dropout`` /
``feature_alpha_dropout`` (the dropout layers call ``F.<name>``). Each is a realistic implementation bug, several
of them Paddle's own (a GPU kernel that inverted momentum, PR #51120; the unbiased running variance PR #68159
proposed): the layer still runs, returns the right shape and dtype, and is wrong in one behaviour only.
"""

import functools
import inspect

import paddle
import paddle.nn.functional as F
from paddle.nn.layer import norm

from benchmarks.mutants import hit, mutant

SELU_ALPHA = 1.6732632423543772          # SELU's alpha: the wrong constant for alpha dropout
ALPHA_PRIME = 1.7580993408473766         # -SELU scale * alpha: the right one


def _patch(owner, name, make):
    """Replace owner.<name> by make(original); the replacement receives every argument by name."""
    original = getattr(owner, name)
    signature = inspect.signature(original)
    body = make(original)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return body(**bound.arguments)

    setattr(owner, name, wrapper)


def _channel_axis(x, data_format):
    return 1 if data_format[1] == "C" else x.ndim - 1


def _stat_axes(x, data_format):
    return [a for a in range(x.ndim) if a != _channel_axis(x, data_format)]


def _channel_view(t, x, data_format):
    shape = [1] * x.ndim
    shape[_channel_axis(x, data_format)] = -1
    return t.reshape(shape)


def _training(a) -> bool:
    """Whether the call normalises with batch statistics and updates the running ones."""
    return a["training"] and not a["use_global_stats"]


def _update(bn, a):
    """The running update alone (the original kernel on a detached input, its output discarded)."""
    with paddle.no_grad():
        bn(**{**a, "x": a["x"].detach(), "weight": None, "bias": None})


def _affine(y, a):
    if a["weight"] is not None:
        y = y * _channel_view(a["weight"], a["x"], a["data_format"])
    if a["bias"] is not None:
        y = y + _channel_view(a["bias"], a["x"], a["data_format"])
    return y


def _patch_bn(make):
    _patch(norm, "batch_norm", make)


# ---------------------------------------------------------------- BatchNorm

@mutant("bn_momentum_reversed", "running update weights the batch by momentum (PyTorch's meaning; PR #51120's GPU bug)")
def _():
    def make(bn):
        def batch_norm(**a):
            if _training(a):
                hit()
                a["momentum"] = 1.0 - a["momentum"]
            return bn(**a)
        return batch_norm
    _patch_bn(make)


@mutant("bn_running_var_unbiased", "running variance updated with the unbiased batch variance n/(n-1) var_B (PR #68159)")
def _():
    def make(bn):
        def batch_norm(**a):
            x, var, m = a["x"], a["running_var"], a["momentum"]
            n = x.size // x.shape[_channel_axis(x, a["data_format"])]
            if not _training(a) or n == 1:
                return bn(**a)
            hit()
            old = var.clone()
            out = bn(**a)
            with paddle.no_grad():
                biased = paddle.var(x.detach().astype(old.dtype), axis=_stat_axes(x, a["data_format"]), unbiased=False)
                var.set_value(old * m + biased * (n / (n - 1)) * (1 - m))
            return out
        return batch_norm
    _patch_bn(make)


@mutant("bn_eval_batch_stats", "inference normalizes with the batch statistics (running statistics left alone)")
def _():
    def make(bn):
        def batch_norm(**a):
            if a["training"] or a["use_global_stats"] is False:
                return bn(**a)
            hit()
            return bn(**{**a, "running_mean": a["running_mean"].clone(), "running_var": a["running_var"].clone(),
                         "training": True})
        return batch_norm
    _patch_bn(make)


@mutant("bn_train_running_stats", "training normalizes with the running statistics (which are still updated)")
def _():
    def make(bn):
        def batch_norm(**a):
            if not _training(a):
                return bn(**a)
            hit()
            out = bn(**{**a, "running_mean": a["running_mean"].clone(), "running_var": a["running_var"].clone(),
                        "training": False})
            _update(bn, a)
            return out
        return batch_norm
    _patch_bn(make)


@mutant("bn_eps_outside_sqrt", "y = (x - mean) / (sqrt(var) + eps) instead of / sqrt(var + eps)")
def _():
    def make(bn):
        def batch_norm(**a):
            hit()
            x, fmt = a["x"], a["data_format"]
            if _training(a):
                mean, var = x.mean(axis=_stat_axes(x, fmt)), paddle.var(x, axis=_stat_axes(x, fmt), unbiased=False)
                _update(bn, a)
            else:
                mean, var = a["running_mean"], a["running_var"]
            y = (x - _channel_view(mean, x, fmt)) / (_channel_view(var, x, fmt).sqrt() + a["epsilon"])
            return _affine(y, a)
        return batch_norm
    _patch_bn(make)


@mutant("bn_global_stats_ignored", "use_global_stats is ignored: the mode alone picks batch or running statistics")
def _():
    def make(bn):
        def batch_norm(**a):
            if a["use_global_stats"] is not None:
                hit()
                a["use_global_stats"] = None
            return bn(**a)
        return batch_norm
    _patch_bn(make)


@mutant("bn_affine_ignored", "gamma and beta are not applied (weight=None, bias=None)")
def _():
    def make(bn):
        def batch_norm(**a):
            if a["weight"] is not None or a["bias"] is not None:
                hit()
            return bn(**{**a, "weight": None, "bias": None})
        return batch_norm
    _patch_bn(make)


@mutant("bn_frozen_global_stats", "a layer whose weight has stop_gradient=True trains with its running statistics, unchanged "
        "(Keras' trainable=False meaning in a Paddle layer)")
def _():
    def make(bn):
        def batch_norm(**a):
            if _training(a) and a["weight"] is not None and a["weight"].stop_gradient:
                hit()
                a["use_global_stats"] = True
            return bn(**a)
        return batch_norm
    _patch_bn(make)


@mutant("bn_grad_stats_constant", "training backward treats the batch mean and variance as constants")
def _():
    def make(bn):
        def batch_norm(**a):
            if not _training(a):
                return bn(**a)
            hit()
            x, fmt = a["x"], a["data_format"]
            mean = x.mean(axis=_stat_axes(x, fmt)).detach()
            var = paddle.var(x, axis=_stat_axes(x, fmt), unbiased=False).detach()
            _update(bn, a)
            y = (x - _channel_view(mean, x, fmt)) / (_channel_view(var, x, fmt) + a["epsilon"]).sqrt()
            return _affine(y, a)
        return batch_norm
    _patch_bn(make)


# ---------------------------------------------------------------- Dropout

def _upscaling(a) -> bool:
    return a["training"] and a["mode"] == "upscale_in_train" and 0 < a["p"] < 1


@mutant("do_unscaled", "training dropout returns x * mask, without the 1 / (1 - p) scale")
def _():
    def make(dropout):
        def wrapper(**a):
            if _upscaling(a):
                hit()
                return dropout(**a) * (1 - a["p"])
            return dropout(**a)
        return wrapper
    _patch(F, "dropout", make)


@mutant("do_rate_off", "drops with probability 0.9 p (and scales by 1 / (1 - 0.9 p))")
def _():
    def make(dropout):
        def wrapper(**a):
            if a["training"] and 0 < a["p"] <= 1:
                hit()
                a["p"] = 0.9 * a["p"]
            return dropout(**a)
        return wrapper
    _patch(F, "dropout", make)


@mutant("do_eval_active", "dropout also drops in inference (training forced to True)")
def _():
    def make(dropout):
        def wrapper(**a):
            if not a["training"]:
                hit()
            return dropout(**{**a, "training": True})
        return wrapper
    _patch(F, "dropout", make)


@mutant("do_downscale_as_upscale", "mode='downscale_in_infer' runs as 'upscale_in_train' (the mode argument dropped)")
def _():
    def make(dropout):
        def wrapper(**a):
            if a["mode"] == "downscale_in_infer":
                hit()
                a["mode"] = "upscale_in_train"
            return dropout(**a)
        return wrapper
    _patch(F, "dropout", make)


@mutant("do_downscale_eval_identity", "mode='downscale_in_infer' returns x in inference, without the (1 - p) factor")
def _():
    def make(dropout):
        def wrapper(**a):
            if a["mode"] == "downscale_in_infer" and not a["training"]:
                hit()
                return a["x"]
            return dropout(**a)
        return wrapper
    _patch(F, "dropout", make)


@mutant("do_grad_unscaled", "dropout backward passes dy * mask, without the 1 / (1 - p) scale")
def _():
    def make(dropout):
        def wrapper(**a):
            if not (_upscaling(a) and a["axis"] is None):
                return dropout(**a)
            hit()
            x = a["x"]
            scaled = dropout(**{**a, "x": paddle.ones_like(x)}).detach()     # 0 or 1 / (1 - p)
            kept = (scaled != 0).astype(x.dtype)
            return x * kept + (x * (scaled - kept)).detach()                   # value x * scaled, gradient dy * kept
        return wrapper
    _patch(F, "dropout", make)


@mutant("do_2d_elementwise", "Dropout2D drops single elements instead of whole channels")
def _():
    def make(dropout2d):
        def wrapper(**a):
            if a["training"]:
                hit()
                return F.dropout(a["x"], p=a["p"], training=True)
            return dropout2d(**a)
        return wrapper
    _patch(F, "dropout2d", make)


@mutant("do_2d_data_format_ignored", "Dropout2D(data_format='NHWC') draws its mask per (sample, axis 1), as for NCHW")
def _():
    def make(dropout2d):
        def wrapper(**a):
            if a["data_format"] == "NHWC" and a["training"]:
                hit()
                return F.dropout(a["x"], p=a["p"], axis=[0, 1], training=True)
            return dropout2d(**a)
        return wrapper
    _patch(F, "dropout2d", make)


@mutant("do_alpha_coefficient", "alpha dropout's a computed with SELU alpha 1.6733 instead of alpha' 1.7581")
def _():
    def make(alpha_dropout):
        def wrapper(**a):
            x, p = a["x"], a["p"]
            if not (a["training"] and 0 < p < 1):
                return alpha_dropout(**a)
            hit()
            keep = (paddle.uniform(x.shape, dtype="float32") >= p).astype(x.dtype)
            scale = ((1 - p) * (1 + p * SELU_ALPHA**2)) ** -0.5
            return scale * (x * keep - ALPHA_PRIME * (1 - keep)) + scale * ALPHA_PRIME * p
        return wrapper
    _patch(F, "alpha_dropout", make)


@mutant("do_feature_alpha_elementwise", "FeatureAlphaDropout drops single elements instead of whole channels")
def _():
    def make(feature_alpha_dropout):
        def wrapper(**a):
            if a["training"] and 0 < a["p"] < 1:
                hit()
                return F.alpha_dropout(a["x"], p=a["p"], training=True)
            return feature_alpha_dropout(**a)
        return wrapper
    _patch(F, "feature_alpha_dropout", make)
