"""Dropout and its variants, in float64. A mask holds 1 where an element is kept, 0 where dropped."""
import numpy as np

from layerconf.reference.layout import channel_axis

# SELU's negative saturation value, -scale * alpha (Klambauer et al. 2017, eq. for alpha dropout).
ALPHA_PRIME = 1.7580993408473766


def output(x, keep_mask, rate: float):
    """Inverted dropout: y = x * mask / (1 - rate); rate = 1 drops everything, y = 0."""
    x = np.asarray(x, dtype=np.float64)
    if rate == 1:
        return np.zeros_like(x)
    return x * np.asarray(keep_mask, dtype=np.float64) / (1.0 - rate)


def downscaled_output(x, keep_mask, rate: float, training: bool):
    """Dropout that scales in inference instead of training (scaling = 'inference'; Paddle's
    mode='downscale_in_infer'): training y = x * mask, unscaled; inference y = x * (1 - rate)."""
    x = np.asarray(x, dtype=np.float64)
    return x * np.asarray(keep_mask, dtype=np.float64) if training else x * (1.0 - rate)


def scale(rate: float) -> float:
    """The factor applied to kept elements: 1 / (1 - rate)."""
    return 1.0 / (1.0 - rate)


def mask_shape(shape, kind: str, layout: str | None = None) -> tuple[int, ...]:
    """Shape of the mask that broadcasts over x.

    'element': one draw per element, the shape of x. 'channel' (spatial dropout): one draw per
    (sample, channel), size 1 on every other axis of ``layout``.
    """
    if kind == "element":
        return tuple(shape)
    if kind == "channel":
        keep = {0, channel_axis(layout)}
        return tuple(s if a in keep else 1 for a, s in enumerate(shape))
    raise ValueError(f"kind must be 'element' or 'channel', got {kind!r}")


def alpha_coefficients(rate: float):
    """Alpha dropout's affine correction that keeps zero mean and unit variance of SELU activations.

    a = ((1 - p) (1 + p alpha'^2))^(-1/2),  b = a alpha' p,  alpha' = 1.7580993408473766.
    Returns (a, b).
    """
    a = ((1.0 - rate) * (1.0 + rate * ALPHA_PRIME**2)) ** -0.5
    return a, a * ALPHA_PRIME * rate


def alpha_output(x, keep_mask, rate: float):
    """Alpha dropout: y = a * (x * m - alpha' * (1 - m)) + b, with (a, b) from ``alpha_coefficients``."""
    a, b = alpha_coefficients(rate)
    m = np.asarray(keep_mask, dtype=np.float64)
    return a * (np.asarray(x, dtype=np.float64) * m - ALPHA_PRIME * (1.0 - m)) + b


def gaussian_stddev(rate: float) -> float:
    """Gaussian dropout multiplies x by noise ~ N(1, sigma^2), sigma = sqrt(rate / (1 - rate))."""
    return float(np.sqrt(rate / (1.0 - rate)))
