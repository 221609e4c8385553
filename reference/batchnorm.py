"""BatchNormalization, in float64.

Notation: x has a channel axis (see ``reference.layout``); every statistic is per channel and reduces
over the other axes, whose total size is n (batch x spatial).
"""
import numpy as np

from layerconf.reference.layout import channel_axis, channel_shape, reduction_axes


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _per_channel(v, layout):
    v = _f64(v)
    return v.reshape(channel_shape(layout, v.size))


def count_per_channel(shape, layout: str) -> int:
    """n = product of the sizes of the reduction axes (batch x spatial)."""
    return int(np.prod([shape[a] for a in reduction_axes(layout)]))


def per_activation(x):
    """x of shape (N, C, D1, ..., Dn) as (N, C*D1*...*Dn) in layout 'NC' (ONNX BatchNormalization-7 spatial=0):
    each activation is a channel of its own, so every per-channel formula here reduces over the batch axis only,
    and a statistic of shape (C, D1, ..., Dn) is the flattened vector reshaped back."""
    x = _f64(x)
    return x.reshape(x.shape[0], -1)


def batch_moments(x, layout: str):
    """mean = (1/n) sum x ;  var = (1/n) sum (x - mean)^2  (biased), per channel."""
    x = _f64(x)
    axes = reduction_axes(layout)
    mean = x.mean(axis=axes)
    var = ((x - _per_channel(mean, layout)) ** 2).mean(axis=axes)
    return mean, var


def masked_moments(x, mask, layout: str):
    """Moments over the entries the mask keeps (m = 1): mean = sum m x / sum m;
    var = sum m (x - mean)^2 / sum m (biased), per channel. ``mask`` has x's shape without the channel axis."""
    x = _f64(x)
    m = np.broadcast_to(np.expand_dims(_f64(mask), channel_axis(layout)), x.shape)
    axes = reduction_axes(layout)
    kept = m.sum(axis=axes)
    mean = (m * x).sum(axis=axes) / kept
    return mean, (m * (x - _per_channel(mean, layout)) ** 2).sum(axis=axes) / kept


def normalize(x, mean, var, gamma, beta, eps: float, layout: str):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, per channel."""
    shaped = lambda v: _per_channel(v, layout)  # noqa: E731
    return shaped(gamma) * (_f64(x) - shaped(mean)) / np.sqrt(shaped(var) + eps) + shaped(beta)


def train_forward(x, gamma, beta, eps: float, layout: str):
    """Training output: normalize with the batch mean and the biased batch variance.

    Returns (y, batch_mean, biased_batch_var).
    """
    mean, var = batch_moments(x, layout)
    return normalize(x, mean, var, gamma, beta, eps, layout), mean, var


def inference_forward(x, running_mean, running_var, gamma, beta, eps: float, layout: str):
    """Inference output: y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta."""
    return normalize(x, running_mean, running_var, gamma, beta, eps, layout)


def corrected_variance(biased_var, n: int, correction: str):
    """The variance fed to the running update: 'biased' keeps var; 'unbiased' is var * n / (n - 1)."""
    if correction == "biased":
        return _f64(biased_var)
    if correction == "unbiased":
        return _f64(biased_var) * n / (n - 1)
    raise ValueError(f"correction must be 'biased' or 'unbiased', got {correction!r}")


def update_running(old, batch_value, decay: float, batch_weight: float | None = None):
    """Exponential moving average: new = decay * old + w * batch, w = 1 - decay unless given."""
    return decay * _f64(old) + (1.0 - decay if batch_weight is None else batch_weight) * _f64(batch_value)


def update_cumulative(old, batch_value, batches_seen: int):
    """Cumulative average over k = batches_seen batches: new = old + (batch - old) / k."""
    return _f64(old) + (_f64(batch_value) - _f64(old)) / batches_seen


def update_statistics(mean, var, batch_mean, batch_var, n: int, correction: str, decay=None, batches_seen: int = 1,
                      batch_weight: float | None = None):
    """Running (mean, var) after one training batch of n entries per channel.

    decay=None is the cumulative average (``update_cumulative`` at k = batches_seen); otherwise the moving
    average with weight ``decay`` on the old value and ``batch_weight`` (default 1 - decay) on the batch. The
    variance term is ``corrected_variance(batch_var, n)``.
    """
    batch_var = corrected_variance(batch_var, n, correction)
    if decay is None:
        return update_cumulative(mean, batch_mean, batches_seen), update_cumulative(var, batch_var, batches_seen)
    return update_running(mean, batch_mean, decay, batch_weight), update_running(var, batch_var, decay, batch_weight)


def running_statistics(batches, layout: str, initial_mean, initial_var, correction: str, decay=None):
    """Running (mean, var) after training on each batch in turn: ``update_statistics`` with each batch's moments."""
    mean, var = _f64(initial_mean), _f64(initial_var)
    for k, x in enumerate(batches, start=1):
        mean, var = update_statistics(mean, var, *batch_moments(x, layout), count_per_channel(np.shape(x), layout),
                                      correction, decay, k)
    return mean, var


def train_backward(x, gamma, eps: float, dy, layout: str):
    """Gradients of sum(dy * y) for the training output, batch statistics differentiated too.

    xhat = (x - mean) / sqrt(var + eps);  dbeta = sum dy;  dgamma = sum dy * xhat;
    dx = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat)), sums and means per channel.
    Returns (dx, dgamma, dbeta).
    """
    axes = reduction_axes(layout)
    x, dy = _f64(x), _f64(dy)
    mean, var = batch_moments(x, layout)
    inv_std = 1.0 / np.sqrt(_per_channel(var, layout) + eps)
    xhat = (x - _per_channel(mean, layout)) * inv_std
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    dy_mean = _per_channel(dy.mean(axis=axes), layout)
    dyxhat_mean = _per_channel((dy * xhat).mean(axis=axes), layout)
    dx = _per_channel(gamma, layout) * inv_std * (dy - dy_mean - xhat * dyxhat_mean)
    return dx, dgamma, dbeta


def running_train_backward(x, m, v, w: float, gamma, eps: float, dy, layout: str):
    """Gradients of sum(dy * y), y = gamma (x - m) / sqrt(v + eps) + beta, for m = w mean_B + d rm and
    v = w var_B + d rv (biased var_B; rm, rv constants): the batch moments enter with weight w. With
    s = 1 / sqrt(v + eps): dx = gamma s (dy - w mean(dy) - w s^2 (x - mean_B) mean(dy (x - m)));
    dgamma = sum dy (x - m) s; dbeta = sum dy. w = 1 (m, v the batch moments) is ``train_backward``.
    """
    axes = reduction_axes(layout)
    x, dy = _f64(x), _f64(dy)
    inv_std = 1.0 / np.sqrt(_per_channel(v, layout) + eps)
    centred = x - _per_channel(m, layout)
    mean_b = _per_channel(batch_moments(x, layout)[0], layout)
    dy_mean = _per_channel(dy.mean(axis=axes), layout)
    dyc_mean = _per_channel((dy * centred).mean(axis=axes), layout)
    dx = _per_channel(gamma, layout) * inv_std * (dy - w * dy_mean - w * inv_std**2 * (x - mean_b) * dyc_mean)
    return dx, (dy * centred * inv_std).sum(axis=axes), dy.sum(axis=axes)


def inference_backward(x, running_mean, running_var, gamma, eps: float, dy, layout: str):
    """Gradients of sum(dy * y) for the inference output (running statistics are constants).

    dx = gamma * dy / sqrt(running_var + eps);  dgamma = sum dy * xhat;  dbeta = sum dy,
    with xhat = (x - running_mean) / sqrt(running_var + eps). Returns (dx, dgamma, dbeta).
    """
    axes = reduction_axes(layout)
    x, dy = _f64(x), _f64(dy)
    inv_std = 1.0 / np.sqrt(_per_channel(running_var, layout) + eps)
    xhat = (x - _per_channel(running_mean, layout)) * inv_std
    dx = _per_channel(gamma, layout) * inv_std * dy
    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)


def sgd_step(value, grad, lr: float):
    """Plain SGD: new = value - lr * grad."""
    return _f64(value) - lr * _f64(grad)
