"""Bugs of PaddlePaddle: each replaces a function the paddle.nn layers call, ``batch_norm`` as paddle.nn.layer.norm
imported it (BatchNorm1D/2D/3D call that name) or paddle.nn.functional's dropout, dropout2d, alpha_dropout and
feature_alpha_dropout (the dropout layers call ``F.<name>``); several are Paddle's own history."""
import paddle
import paddle.nn.functional as F

from benchmarks.mutants.kit import hit, mutant

BN = "paddle.nn.layer.norm.batch_norm"
SELU_ALPHA = 1.6732632423543772          # SELU's alpha: the wrong constant for alpha dropout
ALPHA_PRIME = 1.7580993408473766         # -SELU scale * alpha: the right one


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


def _normalise(a, mean, var, sqrt_of_sum=True):
    """(x - mean) / sqrt(var + eps), or / (sqrt(var) + eps), then the affine transform."""
    x, fmt = a["x"], a["data_format"]
    var = _channel_view(var, x, fmt)
    y = (x - _channel_view(mean, x, fmt)) / ((var + a["epsilon"]).sqrt() if sqrt_of_sum else var.sqrt() + a["epsilon"])
    if a["weight"] is not None:
        y = y * _channel_view(a["weight"], x, fmt)
    return y if a["bias"] is None else y + _channel_view(a["bias"], x, fmt)


def _batch_statistics(a):
    x = a["x"]
    return x.mean(axis=_stat_axes(x, a["data_format"])), paddle.var(x, axis=_stat_axes(x, a["data_format"]), unbiased=False)


def _with_copies(a, **changes):
    return {**a, "running_mean": a["running_mean"].clone(), "running_var": a["running_var"].clone(), **changes}


@mutant("bn_momentum_reversed", BN, bind=True)
def _(bn, **a):
    if hit(_training(a)):
        a["momentum"] = 1.0 - a["momentum"]
    return bn(**a)


@mutant("bn_running_var_unbiased", BN, bind=True)
def _(bn, **a):
    x, var, m = a["x"], a["running_var"], a["momentum"]
    n = x.size // x.shape[_channel_axis(x, a["data_format"])]
    if not hit(_training(a) and n != 1):
        return bn(**a)
    old = var.clone()
    out = bn(**a)
    with paddle.no_grad():
        biased = paddle.var(x.detach().astype(old.dtype), axis=_stat_axes(x, a["data_format"]), unbiased=False)
        var.set_value(old * m + biased * (n / (n - 1)) * (1 - m))
    return out


@mutant("bn_eval_batch_stats", BN, bind=True)
def _(bn, **a):
    if not hit(not a["training"] and a["use_global_stats"] is not False):
        return bn(**a)
    return bn(**_with_copies(a, training=True))


@mutant("bn_train_running_stats", BN, bind=True)
def _(bn, **a):
    if not hit(_training(a)):
        return bn(**a)
    out = bn(**_with_copies(a, training=False))
    _update(bn, a)
    return out


@mutant("bn_eps_outside_sqrt", BN, bind=True)
def _(bn, **a):
    hit()
    if _training(a):
        mean, var = _batch_statistics(a)
        _update(bn, a)
    else:
        mean, var = a["running_mean"], a["running_var"]
    return _normalise(a, mean, var, sqrt_of_sum=False)


@mutant("bn_global_stats_ignored", BN, bind=True)
def _(bn, **a):
    if hit(a["use_global_stats"] is not None):
        a["use_global_stats"] = None
    return bn(**a)


@mutant("bn_affine_ignored", BN, bind=True)
def _(bn, **a):
    hit(a["weight"] is not None or a["bias"] is not None)
    return bn(**{**a, "weight": None, "bias": None})


@mutant("bn_frozen_global_stats", BN, bind=True)
def _(bn, **a):
    if hit(_training(a) and a["weight"] is not None and a["weight"].stop_gradient):
        a["use_global_stats"] = True
    return bn(**a)


@mutant("bn_grad_stats_constant", BN, bind=True)
def _(bn, **a):
    if not hit(_training(a)):
        return bn(**a)
    mean, var = (s.detach() for s in _batch_statistics(a))
    _update(bn, a)
    return _normalise(a, mean, var)


def _upscaling(a) -> bool:
    return a["training"] and a["mode"] == "upscale_in_train" and 0 < a["p"] < 1


@mutant("do_unscaled", (F, "dropout"), bind=True)
def _(dropout, **a):
    return dropout(**a) * (1 - a["p"]) if hit(_upscaling(a)) else dropout(**a)


@mutant("do_rate_off", (F, "dropout"), bind=True)
def _(dropout, **a):
    if hit(a["training"] and 0 < a["p"] <= 1):
        a["p"] = 0.9 * a["p"]
    return dropout(**a)


@mutant("do_eval_active", (F, "dropout"), bind=True)
def _(dropout, **a):
    hit(not a["training"])
    return dropout(**{**a, "training": True})


@mutant("do_downscale_as_upscale", (F, "dropout"), bind=True)
def _(dropout, **a):
    if hit(a["mode"] == "downscale_in_infer"):
        a["mode"] = "upscale_in_train"
    return dropout(**a)


@mutant("do_downscale_eval_identity", (F, "dropout"), bind=True)
def _(dropout, **a):
    return a["x"] if hit(a["mode"] == "downscale_in_infer" and not a["training"]) else dropout(**a)


@mutant("do_grad_unscaled", (F, "dropout"), bind=True)
def _(dropout, **a):
    if not hit(_upscaling(a) and a["axis"] is None):
        return dropout(**a)
    x = a["x"]
    scaled = dropout(**{**a, "x": paddle.ones_like(x)}).detach()     # 0 or 1 / (1 - p)
    kept = (scaled != 0).astype(x.dtype)
    return x * kept + (x * (scaled - kept)).detach()                   # value x * scaled, gradient dy * kept


@mutant("do_2d_elementwise", (F, "dropout2d"), bind=True)
def _(dropout2d, **a):
    return F.dropout(a["x"], p=a["p"], training=True) if hit(a["training"]) else dropout2d(**a)


@mutant("do_2d_data_format_ignored", (F, "dropout2d"), bind=True)
def _(dropout2d, **a):
    if hit(a["data_format"] == "NHWC" and a["training"]):
        return F.dropout(a["x"], p=a["p"], axis=[0, 1], training=True)
    return dropout2d(**a)


@mutant("do_alpha_coefficient", (F, "alpha_dropout"), bind=True)
def _(alpha_dropout, **a):
    x, p = a["x"], a["p"]
    if not hit(a["training"] and 0 < p < 1):
        return alpha_dropout(**a)
    keep = (paddle.uniform(x.shape, dtype="float32") >= p).astype(x.dtype)
    scale = ((1 - p) * (1 + p * SELU_ALPHA**2)) ** -0.5
    return scale * (x * keep - ALPHA_PRIME * (1 - keep)) + scale * ALPHA_PRIME * p


@mutant("do_feature_alpha_elementwise", (F, "feature_alpha_dropout"), bind=True)
def _(feature_alpha_dropout, **a):
    if hit(a["training"] and 0 < a["p"] < 1):
        return F.alpha_dropout(a["x"], p=a["p"], training=True)
    return feature_alpha_dropout(**a)
