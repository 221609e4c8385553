"""reference.dropout: outputs for a given mask, mask shapes, alpha and gaussian coefficients."""
import numpy as np
import pytest

from layerconf.reference import dropout as do

SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772


def test_output_with_a_given_mask():
    x = np.array([[1.0, -2.0], [3.0, 4.0]])
    mask = np.array([[1, 0], [0, 1]])
    np.testing.assert_allclose(do.output(x, mask, 0.5), [[2.0, 0.0], [0.0, 8.0]], rtol=1e-15)
    np.testing.assert_allclose(do.output(x, mask, 0.2), [[1.25, 0.0], [0.0, 5.0]], rtol=1e-15)
    np.testing.assert_array_equal(do.output(x, np.ones_like(x), 0.0), x)          # rate 0: identity
    assert do.scale(0.2) == pytest.approx(1.25, rel=1e-15)


def test_downscaled_output_scales_in_inference_not_in_training():
    x = np.array([[1.0, -2.0], [3.0, 4.0]])
    mask = np.array([[1, 0], [0, 1]])
    np.testing.assert_array_equal(do.downscaled_output(x, mask, 0.2, training=True), [[1.0, 0.0], [0.0, 4.0]])
    np.testing.assert_allclose(do.downscaled_output(x, 1, 0.2, training=False), [[0.8, -1.6], [2.4, 3.2]], rtol=1e-15)
    # the expectation over masks of the training output equals the inference output, as for inverted dropout
    rate, masks = 0.25, np.array([1, 1, 1, 0])   # the four equally likely masks of one element kept with 3/4
    assert np.mean([do.downscaled_output(2.0, m, rate, training=True) for m in masks]) == do.downscaled_output(
        2.0, 1, rate, training=False)


def test_rate_one_gives_zeros_whatever_the_mask():
    y = do.output(np.full((2, 3), 7.0), np.ones((2, 3)), 1)
    np.testing.assert_array_equal(y, np.zeros((2, 3)))
    assert y.dtype == np.float64 and not np.isnan(y).any()


def test_channel_mask_broadcasts_per_sample_and_channel():
    x = np.ones((2, 3, 2, 2))
    mask = np.array([[1, 0, 1], [0, 0, 1]]).reshape(do.mask_shape(x.shape, "channel", "NCHW"))
    y = do.output(x, mask, 0.5)
    np.testing.assert_array_equal(y[0, 1], 0)
    np.testing.assert_array_equal(y[1, 2], 2)


@pytest.mark.parametrize("layout, shape, expected", [
    ("NC", (4, 3), (4, 3)),
    ("NCL", (4, 3, 5), (4, 3, 1)),
    ("NLC", (4, 5, 3), (4, 1, 3)),
    ("NCHW", (4, 3, 5, 6), (4, 3, 1, 1)),
    ("NHWC", (4, 5, 6, 3), (4, 1, 1, 3)),
    ("NCDHW", (4, 3, 5, 6, 7), (4, 3, 1, 1, 1)),
    ("NDHWC", (4, 5, 6, 7, 3), (4, 1, 1, 1, 3)),
])
def test_mask_shape(layout, shape, expected):
    assert do.mask_shape(shape, "channel", layout) == expected
    assert do.mask_shape(shape, "element", layout) == shape
    assert do.mask_shape(list(shape), "element") == shape


def test_mask_shape_rejects_unknown_kind_and_layout():
    with pytest.raises(ValueError, match="kind"):
        do.mask_shape((2, 3), "pixel", "NC")
    with pytest.raises(ValueError, match="layout"):
        do.mask_shape((2, 3, 4), "channel", "CNL")


def test_alpha_prime_is_selu_saturation():
    np.testing.assert_allclose(do.ALPHA_PRIME, SELU_SCALE * SELU_ALPHA, rtol=1e-15)


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.2, 0.5, 0.9])
def test_alpha_coefficients_keep_mean_zero_and_variance_one(rate):
    # Analytically, for x with E[x] = 0, Var[x] = 1 and keep mask m ~ Bernoulli(1 - p) independent of x:
    # u = x m - alpha' (1 - m) has E[u] = -alpha' p and Var[u] = (1 - p) + p (1 - p) alpha'^2,
    # so y = a u + b has E[y] = b - a alpha' p and Var[y] = a^2 Var[u].
    a, b = do.alpha_coefficients(rate)
    ap, p = do.ALPHA_PRIME, rate
    assert a * ((1 - p) * 0 - ap * p) + b == pytest.approx(0, abs=1e-14)
    assert a**2 * ((1 - p) + p * (1 - p) * ap**2) == pytest.approx(1, rel=1e-14)
    # and the same moments from the two-point law of u given x's moments, via alpha_output itself
    kept_mean = do.alpha_output(0.0, 1, rate)           # a * 0 + b, the kept value's mean
    kept_second = a**2 * 1 + kept_mean**2               # E[(a x + b)^2] for E[x^2] = 1
    dropped = do.alpha_output(123.0, 0, rate)           # x is irrelevant when dropped
    mean = (1 - p) * kept_mean + p * dropped
    assert mean == pytest.approx(0, abs=1e-14)
    assert (1 - p) * kept_second + p * dropped**2 - mean**2 == pytest.approx(1, rel=1e-14)


def test_alpha_output_values():
    a, b = do.alpha_coefficients(0.5)
    assert a == pytest.approx((0.5 * (1 + 0.5 * do.ALPHA_PRIME**2)) ** -0.5, rel=1e-15)
    assert b == pytest.approx(a * do.ALPHA_PRIME * 0.5, rel=1e-15)
    x = np.array([2.0, -1.0, 3.0])
    y = do.alpha_output(x, np.array([1, 0, 1]), 0.5)
    np.testing.assert_allclose(y, [a * 2 + b, b - a * do.ALPHA_PRIME, a * 3 + b], rtol=1e-15)
    # rate 0: a = 1, b = 0 and everything kept, so alpha dropout is the identity
    np.testing.assert_allclose(do.alpha_output(x, np.ones(3), 0.0), x, rtol=1e-15)


@pytest.mark.parametrize("rate, sigma", [(0.0, 0.0), (0.1, (1 / 9) ** 0.5), (0.5, 1.0), (0.8, 2.0)])
def test_gaussian_stddev(rate, sigma):
    assert do.gaussian_stddev(rate) == pytest.approx(sigma, rel=1e-15)
    assert isinstance(do.gaussian_stddev(rate), float)
