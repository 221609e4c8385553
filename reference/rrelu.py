"""RReLU, the randomized leaky ReLU (Xu et al. 2015, arXiv:1505.00853), in float64, and the exact
Kolmogorov-Smirnov test of its training slopes.

    inference: y = x (x >= 0), y = x (lower + upper) / 2 (x < 0)
    training:  y = x (x >= 0), y = a x (x < 0), a ~ U(lower, upper) drawn per element
    gradient:  dL/dx = dy * slope, slope = 1 (x >= 0), a or (lower + upper) / 2 (x < 0)
"""
import numpy as np

INVALID_BOUNDS = {"lower_above_upper": (0.4, 0.2), "negative_lower": (-0.1, 0.3), "upper_above_one": (0.2, 1.5)}


def mean_slope(lower: float, upper: float, arithmetic: str = "float64") -> float:
    """The inference slope (lower + upper) / 2, with the bounds and their sum rounded to ``arithmetic`` (float32 where
    the framework holds the bounds as float32 attributes and adds them in float32: Paddle's (lower + upper) / 2.0f)."""
    t = np.dtype(arithmetic).type
    return float((t(lower) + t(upper)) / t(2))


def bounds(lower: float, upper: float, arithmetic: str = "float64") -> tuple[float, float]:
    """The bounds as the framework holds them: rounded to ``arithmetic``."""
    t = np.dtype(arithmetic).type
    return float(t(lower)), float(t(upper))


def slopes(x, a) -> np.ndarray:
    """The slope of every element: 1 where x >= 0, a (a number or an array of x's shape) where x < 0."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= 0, 1.0, np.broadcast_to(np.asarray(a, dtype=np.float64), x.shape))


def output(x, a) -> np.ndarray:
    """y = slopes(x, a) * x: inference with a = mean_slope, training with the drawn a."""
    return slopes(x, a) * np.asarray(x, dtype=np.float64)


def grad(x, dy, a) -> np.ndarray:
    """dL/dx = dy * slopes(x, a) for L = sum(dy * y)."""
    return slopes(x, a) * np.asarray(dy, dtype=np.float64)
