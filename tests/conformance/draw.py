"""Input draws for the conformance tests: per-channel offsets and scales, rounded to the case's dtype."""
import numpy as np

from layerconf.reference.dtypes import parameter_dtype, quantize
from layerconf.reference.layout import channel_shape, reduction_axes, shape_of


def batch(rng, layout, dtype="float64", n=4, channels=3, spatial=3, scale=None):
    """x = offset_c + scale_c z, offset in [-2, 2], scale in [0.5, 2] (or ``scale``), in ``dtype``; z is N(0, 1)
    draws standardized per channel over the batch (mean 0, biased std 1) where a channel has two values or more,
    so the batch statistics are the drawn offset and scale: a few draws cannot make a channel's spread tiny
    and the float32 comparisons ill-conditioned (dx = gamma / sigma_B (...) cancels to far below its terms)."""
    shape = shape_of(layout, n, channels, spatial)
    offset = rng.uniform(-2, 2, channels).reshape(channel_shape(layout, channels))
    scales = rng.uniform(0.5, 2, channels) if scale is None else np.full(channels, scale, dtype=float)
    z = rng.standard_normal(shape)
    if z.size > channels:
        axes = reduction_axes(layout)
        z = (z - z.mean(axis=axes, keepdims=True)) / z.std(axis=axes, keepdims=True)
    return quantize(offset + scales.reshape(channel_shape(layout, channels)) * z, dtype)


def affine(rng, channels, dtype="float64"):
    """Non-trivial gamma (|gamma| in [0.5, 2], either sign) and beta in [-1, 1], in the parameter dtype."""
    gamma = rng.choice([-1, 1], channels) * rng.uniform(0.5, 2, channels)
    beta = rng.uniform(-1, 1, channels)
    p = parameter_dtype(dtype)
    return quantize(gamma, p), quantize(beta, p)


def running(rng, channels, dtype="float64"):
    """Non-trivial running mean in [-1, 1] and running variance in [0.5, 3], in the parameter dtype."""
    p = parameter_dtype(dtype)
    return quantize(rng.uniform(-1, 1, channels), p), quantize(rng.uniform(0.5, 3, channels), p)


def head_model(rng, channels, dtype="float32"):
    """The state of a BatchNorm over ``channels`` features under a Dense(1) head: running_mean, running_var, gamma,
    beta as ``affine`` and ``running`` draw them, and kernel (channels, 1), bias (1,) in [-1, 1]."""
    gamma, beta = affine(rng, channels, dtype)
    mean, var = running(rng, channels, dtype)
    return {"running_mean": mean, "running_var": var, "gamma": gamma, "beta": beta,
            "kernel": quantize(rng.uniform(-1, 1, (channels, 1)), dtype), "bias": quantize(rng.uniform(-1, 1, 1), dtype)}


def nonzero(rng, shape, dtype="float64", low=0.5, high=2.0):
    """Values with |x| in [low, high] and random sign: no element is 0, so a 0 in y is a drop."""
    return quantize(rng.choice([-1, 1], shape) * rng.uniform(low, high, shape), dtype)
