"""Additive Gaussian noise (Keras GaussianNoise), in float64, and the exact tests of its draws.

Training: y = x + z, z_i ~ N(0, stddev^2) drawn independently per element; inference: y = x.
dL/dx = dy in both modes (the noise does not depend on x). Given z = y - x of n elements:
sum (z / stddev)^2 ~ chi2(n); sum z / (stddev sqrt n) ~ N(0, 1); the Kolmogorov-Smirnov distance of z / stddev
from N(0, 1) follows Kolmogorov's distribution for n (scipy.stats.kstwo).
"""
import numpy as np
from scipy import stats

from layerconf.reference.statistics import FALSE_ALARM, Region


def output(x, noise, training: bool):
    """y = x + noise in training, y = x in inference."""
    x = np.asarray(x, dtype=np.float64)
    return x + np.asarray(noise, dtype=np.float64) if training else x


def gradient(dy):
    """dL/dx = dy: the added noise is independent of x."""
    return np.asarray(dy, dtype=np.float64)


def mean_statistic(z, stddev: float) -> float:
    """sum z / (stddev sqrt n) ~ N(0, 1) for n draws of N(0, stddev^2)."""
    z = np.asarray(z, dtype=np.float64)
    return float(z.sum() / (stddev * np.sqrt(z.size)))


def normal_region(alpha: float = FALSE_ALARM) -> Region:
    """Central region of N(0, 1): each tail outside holds alpha / 2."""
    q = float(stats.norm.isf(alpha / 2))
    return Region(-q, q, alpha)


def normal_power(region: Region, shift: float) -> float:
    """P(statistic outside region) when it is N(shift, 1)."""
    return float(stats.norm.cdf(region.lo - shift) + stats.norm.sf(region.hi - shift))


def ks_statistic(z, stddev: float) -> float:
    """D_n = sup_t |F_n(t) - Phi(t)| of the n standardized draws z / stddev."""
    u = np.sort(stats.norm.cdf(np.asarray(z, dtype=np.float64).ravel() / stddev))
    n = u.size
    return float(max(np.max(np.arange(1, n + 1) / n - u), np.max(u - np.arange(n) / n)))



def ks_power_uniform(n: int, region: Region) -> float:
    """A lower bound on P(D_n outside region) when the draws are uniform of unit variance, U(-sqrt 3, sqrt 3):
    D_n >= |F_n(t) - Phi(t)| at every t, and n F_n(t) ~ Binomial(n, G(t)) (G the uniform's distribution
    function); the bound is the largest, over a grid of t, of P(|K / n - Phi(t)| > hi)."""
    t = np.linspace(-1.7, 1.7, 341)
    g = np.clip((t + np.sqrt(3)) / (2 * np.sqrt(3)), 0, 1)
    phi = stats.norm.cdf(t)
    below, above = np.ceil(n * (phi - region.hi)) - 1, np.floor(n * (phi + region.hi))
    return float(np.max(stats.binom.cdf(below, n, g) + stats.binom.sf(above, n, g)))   # P(K < n(phi - hi)) + P(K > n(phi + hi))
