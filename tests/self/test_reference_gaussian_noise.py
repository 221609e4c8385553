"""reference.gaussian_noise: the output, its gradient, and the exact tests of the noise."""
import numpy as np
import pytest
from scipy import stats

from layerconf.reference import gaussian_noise as gn
from layerconf.reference import statistics


def test_output_adds_the_noise_in_training_only():
    x, z = np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([[0.1, -0.2], [0.0, 0.3]])
    np.testing.assert_allclose(gn.output(x, z, training=True), [[1.1, -2.2], [0.5, 3.3]], rtol=1e-15)
    np.testing.assert_array_equal(gn.output(x, z, training=False), x)


def test_gradient_by_finite_differences():
    x, z, dy = np.array([0.3, -1.2, 2.0]), np.array([0.5, 0.1, -0.4]), np.array([1.5, -0.5, 2.0])
    h = 1e-6
    numeric = [(np.sum(dy * gn.output(x + h * e, z, True)) - np.sum(dy * gn.output(x - h * e, z, True))) / (2 * h)
               for e in np.eye(3)]
    np.testing.assert_allclose(gn.gradient(dy), numeric, rtol=1e-8)


def test_mean_statistic_by_hand():
    assert gn.mean_statistic([0.2, -0.1, 0.3, 0.0], 0.5) == pytest.approx(0.4 / (0.5 * 2), rel=1e-15)


def test_normal_region_holds_one_minus_alpha():
    region = gn.normal_region(1e-6)
    assert stats.norm.cdf(region.hi) - stats.norm.cdf(region.lo) == pytest.approx(1 - 1e-6, abs=1e-12)
    assert gn.normal_power(region, 0.0) == pytest.approx(1e-6, rel=1e-6)
    assert gn.normal_power(region, 10.0) > 0.999


def test_ks_statistic_by_hand_and_against_scipy():
    # one draw at 0: F_n jumps from 0 to 1 where Phi = 1/2, so D_1 = 1/2
    assert gn.ks_statistic([0.0], 1.0) == pytest.approx(0.5, abs=1e-15)
    z = np.random.default_rng(0).normal(0, 0.3, 1000)
    assert gn.ks_statistic(z, 0.3) == pytest.approx(stats.kstest(z / 0.3, "norm").statistic, abs=1e-15)


def test_ks_region_and_its_power_bound():
    region = statistics.ks_region(20_000, 1e-6)
    assert stats.kstwo(20_000).sf(region.hi) == region.false_alarm <= 1e-6
    assert region.false_alarm == pytest.approx(1e-6, rel=1e-4)
    assert gn.ks_power_uniform(20_000, region) > 0.99        # uniform noise: D ~ 0.03 against a region of 0.019
    assert gn.ks_power_uniform(100, statistics.ks_region(100)) < 0.5  # 100 draws cannot tell them apart
