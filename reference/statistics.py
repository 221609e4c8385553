"""Exact acceptance regions for the random behaviours, with their false-alarm probability and power.

A test observes a count K (dropped elements or channels) or a sum of squares and accepts when it lies
inside the region. The false-alarm probability (rejecting a correct framework) is at most ``alpha``;
the power is the probability of rejecting when the truth is an alternative.
"""
from dataclasses import dataclass

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


def chi2_region(dof: int, alpha: float = FALSE_ALARM) -> Region:
    """Central region for S ~ chi-square(dof), e.g. S = sum (z / sigma)^2 of dof N(0, sigma^2) draws."""
    dist = stats.chi2(dof)
    return Region(float(dist.ppf(alpha / 2)), float(dist.isf(alpha / 2)), alpha)


def chi2_power(dof: int, region: Region, variance_ratio: float) -> float:
    """P(S outside region) when the true variance is variance_ratio times the assumed one."""
    dist = stats.chi2(dof, scale=variance_ratio)
    return float(dist.cdf(region.lo) + dist.sf(region.hi))
