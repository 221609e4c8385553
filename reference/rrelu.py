"""RReLU, the randomized leaky ReLU (Xu et al. 2015, arXiv:1505.00853), in float64, and the exact
Kolmogorov-Smirnov test of its training slopes.

    inference: y = x (x >= 0), y = x (lower + upper) / 2 (x < 0)
    training:  y = x (x >= 0), y = a x (x < 0), a ~ U(lower, upper) drawn per element
    gradient:  dL/dx = dy * slope, slope = 1 (x >= 0), a or (lower + upper) / 2 (x < 0)
"""
import numpy as np
from scipy import stats

from layerconf.reference.statistics import FALSE_ALARM, Region

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


def ks_statistic(a, lower: float, upper: float) -> float:
    """D_n = sup_t |F_n(t) - F(t)|, F the U(lower, upper) distribution function."""
    return float(stats.kstest(np.asarray(a, dtype=np.float64), stats.uniform(lower, upper - lower).cdf).statistic)


def ks_region(n: int, alpha: float = FALSE_ALARM) -> Region:
    """Accept D_n <= c, c the exact (1 - alpha) quantile of D_n for n continuous draws (scipy.stats.kstwo), moved
    up until P(D_n > c) <= alpha (kstwo's isf and sf disagree by ~1e-4 relative)."""
    dist = stats.kstwo(n)
    c = float(dist.isf(alpha))
    while dist.sf(c) > alpha:
        c *= 1 + 1e-6
    return Region(0.0, c, float(dist.sf(c)))


def ks_power(n: int, region: Region, lower: float, upper: float, alt_lower: float, alt_upper: float) -> float:
    """A lower bound on P(D_n > c) when the slopes are U(alt_lower, alt_upper): at the point t where
    delta = |F_alt(t) - F(t)| is largest, D_n >= delta - |F_n(t) - F_alt(t)|, and n F_n(t) ~ Binomial(n, F_alt(t)),
    so the test rejects whenever |K - n F_alt(t)| < n (delta - c)."""
    ends = np.array([lower, upper, alt_lower, alt_upper])
    f0, f1 = stats.uniform(lower, upper - lower).cdf, stats.uniform(alt_lower, alt_upper - alt_lower).cdf
    t = ends[np.argmax(np.abs(f1(ends) - f0(ends)))]   # both distribution functions are linear between the ends
    delta, p = abs(f1(t) - f0(t)), float(f1(t))
    margin = n * (delta - region.hi)
    if margin <= 0:
        return 0.0
    k = stats.binom(n, p)
    return float(k.cdf(np.ceil(n * p + margin) - 1) - k.cdf(np.floor(n * p - margin)))
