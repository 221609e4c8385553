"""reference.rrelu: outputs and gradients by hand and by finite differences, the exact KS region and its power."""
import numpy as np
import pytest
from scipy import stats

from layerconf.reference import rrelu, statistics


def test_inference_output_by_hand():
    x = np.array([-2.0, -0.5, 0.0, 3.0])
    a = rrelu.mean_slope(0.125, 1 / 3)
    assert a == pytest.approx(11 / 48, rel=1e-15)
    np.testing.assert_allclose(rrelu.output(x, a), [-22 / 48, -11 / 96, 0.0, 3.0], rtol=1e-15)


def test_training_output_per_element_slopes():
    x = np.array([[-1.0, 2.0], [-4.0, -0.5]])
    a = np.array([[0.2, 0.9], [0.25, 0.1]])   # a where x >= 0 is ignored
    np.testing.assert_allclose(rrelu.output(x, a), [[-0.2, 2.0], [-1.0, -0.05]], rtol=1e-15)


@pytest.mark.parametrize("a", [11 / 48, np.array([0.3, 0.7, 0.15, 0.2])])
def test_gradient_matches_finite_differences(a):
    x, dy, h = np.array([-1.5, 0.7, -0.2, 2.0]), np.array([0.3, -1.2, 2.0, 0.5]), 1e-6
    numeric = [(np.sum(dy * rrelu.output(x + h * e, a)) - np.sum(dy * rrelu.output(x - h * e, a))) / (2 * h)
               for e in np.eye(x.size)]
    np.testing.assert_allclose(rrelu.grad(x, dy, a), numeric, rtol=1e-8)


def test_ks_region_is_exact():
    region = statistics.ks_region(1000)
    assert 0.999e-6 < region.false_alarm <= 1e-6
    assert region.hi == pytest.approx(stats.kstwo(1000).isf(1e-6), rel=1e-4)
    assert 0.08 < region.hi < 0.09   # ~ sqrt(-ln(1e-6 / 2) / (2 n)) = 0.0851 for large n


def test_ks_statistic_of_a_perfect_grid_and_of_a_shift():
    n = 1000
    grid = 0.1 + 0.3 * (np.arange(n) + 0.5) / n       # quantile midpoints: D = 1 / (2n)
    assert statistics.ks_uniform(grid, 0.1, 0.4) == pytest.approx(1 / (2 * n), rel=1e-9)
    assert statistics.ks_uniform(grid + 0.03, 0.1, 0.4) == pytest.approx(0.1 + 1 / (2 * n), rel=1e-9)


def test_ks_power():
    n = 200_000
    region = statistics.ks_region(n)
    # a shift by 0.01 of a range 0.3 wide: delta = 1/30 at t = lower, where the alternative's F is 0: rejected surely
    assert statistics.ks_uniform_power(n, region, 0.1, 0.4, 0.11, 0.41) == 1.0
    # a range narrowed by 1e-3 on each side: delta = 1/300 < c = 0.0060: no power to speak of
    assert statistics.ks_uniform_power(n, region, 0.1, 0.4, 0.101, 0.399) < 1e-5
    # an alternative with F_alt(t) strictly inside (0, 1): at least the binomial bound at t = 0.8
    p = statistics.ks_uniform_power(1000, statistics.ks_region(1000), 0.0, 1.0, 0.0, 0.8)   # delta = 0.25 at t = 0.8
    margin = 1000 * (0.25 - statistics.ks_region(1000).hi)
    k = stats.binom(1000, 0.8)
    assert p >= k.cdf(np.ceil(800 + margin) - 1) - k.cdf(np.floor(800 - margin)) - 1e-12
    assert 0.999 < p <= 1.0


def test_mean_slope_in_float32_arithmetic():
    # Paddle: (lower + upper) / 2.0f with float attributes: 1/3 is 0.3333333432674408 in float32
    assert rrelu.mean_slope(0.125, 1 / 3, "float32") == (0.125 + float(np.float32(1 / 3))) / 2
    assert rrelu.mean_slope(0.25, 0.4, "float32") == float(np.float32(np.float32(0.25) + np.float32(0.4)) / 2)
    assert rrelu.mean_slope(0.25, 0.4, "float32") != rrelu.mean_slope(0.25, 0.4)
    assert rrelu.bounds(0.1, 0.4, "float32") == (float(np.float32(0.1)), float(np.float32(0.4)))
