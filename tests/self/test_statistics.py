"""reference.statistics: exact, tight acceptance regions, their false-alarm probability and power."""
import numpy as np
import pytest
from scipy import stats

from layerconf.reference.statistics import FALSE_ALARM, binomial_power, binomial_region, chi2_power, chi2_region

CASES = [(n, p) for n in (1, 10, 100, 1000, 4096, 20000) for p in (0.001, 0.1, 0.2, 0.3, 0.5, 0.8, 0.9, 0.999)]


@pytest.mark.parametrize("n, p", CASES)
def test_binomial_region_is_exact_and_tight(n, p):
    r, dist, half = binomial_region(n, p), stats.binom(n, p), FALSE_ALARM / 2
    assert float(r.lo).is_integer() and float(r.hi).is_integer() and 0 <= r.lo <= r.hi <= n
    assert dist.cdf(r.lo - 1) <= half       # P(K < lo) <= alpha/2
    assert dist.sf(r.hi) <= half            # P(K > hi) <= alpha/2
    assert dist.cdf(r.lo) > half            # lo + 1 would put more than alpha/2 below the region
    assert dist.sf(r.hi - 1) > half         # hi - 1 would put more than alpha/2 above it
    assert r.false_alarm == pytest.approx(dist.cdf(r.lo - 1) + dist.sf(r.hi), rel=1e-9, abs=1e-300)
    assert r.false_alarm <= FALSE_ALARM
    assert binomial_power(n, r, p) == pytest.approx(r.false_alarm, rel=1e-9, abs=1e-300)


def test_binomial_region_with_a_larger_alpha_is_narrower():
    wide, narrow = binomial_region(1000, 0.3), binomial_region(1000, 0.3, alpha=0.05)
    assert wide.lo < narrow.lo <= 300 <= narrow.hi < wide.hi
    assert 0.01 < narrow.false_alarm <= 0.05


@pytest.mark.parametrize("p, k", [(0.0, 0), (1.0, 50), (0, 0), (1, 50)])
def test_binomial_region_degenerate(p, k):
    r = binomial_region(50, p)
    assert (r.lo, r.hi, r.false_alarm) == (k, k, 0.0)
    assert k in r and k + 1 not in r and k - 1 not in r


def test_binomial_power_grows_with_the_shift():
    n, p = 4096, 0.5
    r = binomial_region(n, p)
    assert binomial_power(n, r, p) <= FALSE_ALARM
    shifts = [0.005, 0.01, 0.02, 0.04, 0.08]
    up = [binomial_power(n, r, p + d) for d in shifts]
    down = [binomial_power(n, r, p - d) for d in shifts]
    assert all(a < b for a, b in zip(up, up[1:])) and all(a < b for a, b in zip(down, down[1:]))
    assert up[-1] > 0.999 and down[-1] > 0.999      # a rate off by 0.08 is caught for sure at n = 4096
    # a framework that applies keep probability where it should apply drop probability (0.1 vs 0.9)
    assert binomial_power(4096, binomial_region(4096, 0.1), 0.9) == pytest.approx(1.0)


def test_binomial_region_holds_samples_at_the_null():
    # 2000 independent counts under H0: the chance that any leaves its region is at most
    # 1 - (1 - 1e-6)^2000 ~ 2e-3 (and the seed is fixed, so this run is deterministic).
    rng = np.random.default_rng(20240601)
    for n, p in [(4096, 0.1), (4096, 0.5), (1000, 0.9)]:
        r = binomial_region(n, p)
        counts = rng.binomial(n, p, size=2000)
        assert all(k in r for k in counts), (n, p, r, counts.min(), counts.max())
        # the region is not absurdly wide: the observed spread covers a good part of it
        assert counts.max() - counts.min() > 0.5 * (r.hi - r.lo)


@pytest.mark.parametrize("dof", [1, 10, 100, 4096])
def test_chi2_region_is_exact(dof):
    r, dist = chi2_region(dof), stats.chi2(dof)
    assert dist.cdf(r.lo) == pytest.approx(FALSE_ALARM / 2, rel=1e-6)
    assert dist.sf(r.hi) == pytest.approx(FALSE_ALARM / 2, rel=1e-6)
    assert r.false_alarm == FALSE_ALARM
    assert 0 < r.lo < dof < r.hi
    assert chi2_power(dof, r, 1.0) == pytest.approx(FALSE_ALARM, rel=1e-6)


def test_chi2_power_grows_with_the_variance_error():
    dof = 4096
    r = chi2_region(dof)
    up = [chi2_power(dof, r, v) for v in (1.05, 1.1, 1.2, 1.5)]
    down = [chi2_power(dof, r, v) for v in (0.95, 0.9, 0.8, 0.5)]
    assert all(a < b for a, b in zip(up, up[1:])) and all(a < b for a, b in zip(down, down[1:]))
    assert up[-1] > 0.999 and down[-1] > 0.999
    # gaussian dropout with variance p instead of p / (1 - p) at p = 0.5 (ratio 0.5) is caught
    assert chi2_power(dof, r, 0.5) == pytest.approx(1.0)


def test_chi2_region_holds_samples_at_the_null():
    # 2000 sums of 4096 squared standard normals: P(any outside) <= 2000 * 1e-6 = 2e-3; fixed seed.
    rng = np.random.default_rng(7)
    r = chi2_region(4096)
    sums = rng.chisquare(4096, size=2000)
    assert all(s in r for s in sums)
