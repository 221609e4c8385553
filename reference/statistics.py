"""Exact acceptance regions for the random behaviours, with their false-alarm probability and power.

A test observes a count K (dropped elements or channels) or a sum of squares and accepts when it lies
inside the region. The false-alarm probability (rejecting a correct framework) is at most ``alpha``;
the power is the probability of rejecting when the truth is an alternative.
"""
from dataclasses import dataclass

import numpy as np
from scipy import stats

FALSE_ALARM = 1e-6


@dataclass(frozen=True)
class Region:
    """Accept lo <= statistic <= hi. ``false_alarm`` is the exact probability of leaving it under H0."""

    lo: float
    hi: float
    false_alarm: float

    def __contains__(self, value) -> bool:
        return self.lo <= value <= self.hi


def binomial_region(n: int, p: float, alpha: float = FALSE_ALARM) -> Region:
    """Central region for K ~ Binomial(n, p): each tail outside holds at most alpha / 2.

    lo is the largest k with P(K < k) < alpha/2 and hi the smallest with P(K > hi) <= alpha/2.
    """
    if p in (0.0, 1.0):
        k = n * p
        return Region(k, k, 0.0)
    dist = stats.binom(n, p)
    lo = int(dist.ppf(alpha / 2))  # smallest k with P(K <= k) >= alpha/2, so P(K < lo) < alpha/2
    hi = int(dist.isf(alpha / 2))  # smallest k with P(K > k) <= alpha/2
    return Region(lo, hi, float(dist.cdf(lo - 1) + dist.sf(hi)))


def binomial_power(n: int, region: Region, p_true: float) -> float:
    """P(K outside region) when K ~ Binomial(n, p_true): the chance of catching that error."""
    dist = stats.binom(n, p_true)
    return float(dist.cdf(region.lo - 1) + dist.sf(region.hi))


def shifted(p: float, d: float, key: str = "rate") -> dict[str, float]:
    """The alternatives p - d and p + d that are probabilities (in [0, 1]), named f"{key}-{d:.2f}" and f"{key}+{d:.2f}"."""
    return {f"{key}{s:+.2f}": p + s for s in (-d, d) if 0 <= p + s <= 1}


def chi2_region(dof: int, alpha: float = FALSE_ALARM) -> Region:
    """Central region for S ~ chi-square(dof), e.g. S = sum (z / sigma)^2 of dof N(0, sigma^2) draws."""
    dist = stats.chi2(dof)
    return Region(float(dist.ppf(alpha / 2)), float(dist.isf(alpha / 2)), alpha)


def chi2_power(dof: int, region: Region, variance_ratio: float) -> float:
    """P(S outside region) when the true variance is variance_ratio times the assumed one."""
    dist = stats.chi2(dof, scale=variance_ratio)
    return float(dist.cdf(region.lo) + dist.sf(region.hi))


def ks_region(n: int, alpha: float = FALSE_ALARM) -> Region:
    """Accept D_n <= d, d the upper alpha point of the exact distribution of the Kolmogorov-Smirnov distance for n
    continuous draws under the null (scipy.stats.kstwo), moved up where the numerical inverse leaves P(D_n > d)
    above alpha (isf and sf disagree by ~1e-4 relative); the region's false alarm is that exact P(D_n > d)."""
    dist = stats.kstwo(n)
    d = float(dist.isf(alpha))
    while dist.sf(d) > alpha:
        d *= 1 + 1e-6
    return Region(0.0, d, float(dist.sf(d)))


def ks_uniform(sample, lo: float, hi: float) -> float:
    """D_n = sup_t |F_n(t) - F(t)| between the sample's empirical distribution function and U[lo, hi]'s."""
    return float(stats.kstest(np.asarray(sample, dtype=np.float64).ravel(), stats.uniform(lo, hi - lo).cdf).statistic)


def ks_uniform_power(n: int, region: Region, lo: float, hi: float, true_lo: float, true_hi: float) -> float:
    """A lower bound of P(D_n > d) against U[lo, hi] when the draws are U[true_lo, true_hi]: at any point t,
    D_n >= |F_n(t) - F(t)| and n F_n(t) ~ Binomial(n, G(t)), so P(D_n > d) >= max_t P(|K / n - F(t)| > d), t over a
    grid that holds the four ends (where |G - F|, piecewise linear, is largest)."""
    t = np.union1d(np.linspace(min(lo, true_lo), max(hi, true_hi), 201), [lo, hi, true_lo, true_hi])
    f, g = np.clip((t - lo) / (hi - lo), 0, 1), np.clip((t - true_lo) / (true_hi - true_lo), 0, 1)
    below, above = np.ceil(n * (f - region.hi)) - 1, np.floor(n * (f + region.hi))   # K <= below or K > above
    return float(np.max(stats.binom.cdf(below, n, g) + stats.binom.sf(above, n, g)))
