"""reference.batchnorm against hand-computed values, a channels-last reshape, and finite differences."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from layerconf.reference import batchnorm as bn
from layerconf.reference.layout import LAYOUTS, channel_axis, shape_of

EPS = 1e-5


def channels_last(x, layout):
    """x as a (n, C) matrix: the channel axis moved last, everything else flattened."""
    x = np.asarray(x, dtype=np.float64)
    return np.moveaxis(x, channel_axis(layout), -1).reshape(-1, x.shape[channel_axis(layout)])


# --- forward, by hand ---------------------------------------------------------------------------

def test_masked_moments_by_hand_and_against_the_kept_subset():
    x = np.array([[1.0, 10.0], [3.0, 20.0], [100.0, -5.0]])  # NC, 3 samples; the mask drops the third
    mean, var = bn.masked_moments(x, [True, True, False], "NC")
    np.testing.assert_array_equal(mean, [2.0, 15.0])
    np.testing.assert_array_equal(var, [1.0, 25.0])
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5, 3))                       # NLC
    mask = rng.uniform(size=(4, 5)) < 0.5
    mask[0, 0] = True
    kept = x[mask]                                           # (k, C): the kept entries
    np.testing.assert_allclose(bn.masked_moments(x, mask, "NLC"), (kept.mean(axis=0), kept.var(axis=0)), rtol=1e-13)
    np.testing.assert_allclose(bn.masked_moments(x, np.ones((4, 5)), "NLC"), bn.batch_moments(x, "NLC"), rtol=1e-13)

def test_train_forward_by_hand():
    x = np.array([[1.0], [3.0]])  # NC: one channel, mean 2, biased variance 1
    y, mean, var = bn.train_forward(x, [1.0], [0.0], EPS, "NC")
    np.testing.assert_array_equal(mean, [2.0])
    np.testing.assert_array_equal(var, [1.0])
    np.testing.assert_allclose(y, [[-1 / np.sqrt(1 + EPS)], [1 / np.sqrt(1 + EPS)]], rtol=1e-15)
    y, _, _ = bn.train_forward(x, [2.0], [0.5], EPS, "NC")
    np.testing.assert_allclose(y, [[0.5 - 2 / np.sqrt(1 + EPS)], [0.5 + 2 / np.sqrt(1 + EPS)]], rtol=1e-15)


def test_inference_forward_by_hand():
    x = np.array([[1.0, 0.0], [3.0, 4.0]])
    y = bn.inference_forward(x, [1.0, 2.0], [4.0, 0.25], [1.0, 2.0], [0.0, 1.0], 0.0, "NC")
    np.testing.assert_allclose(y, [[0.0, 1 + 2 * (0 - 2) / 0.5], [1.0, 1 + 2 * (4 - 2) / 0.5]], rtol=1e-15)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_batch_moments_reduce_every_axis_but_channels(layout):
    per_channel = tuple(4 if a == channel_axis(layout) else 1 for a in range(len(layout)))
    # channels with distinct means and scales, so a wrong axis would mix them and show
    x = np.random.default_rng(0).normal(size=shape_of(layout, 3, 4, 2)) * np.arange(1.0, 5.0).reshape(per_channel)
    x = x + 10 * np.arange(4.0).reshape(per_channel)
    mean, var = bn.batch_moments(x, layout)
    flat = channels_last(x, layout)
    assert mean.shape == var.shape == (4,)
    np.testing.assert_allclose(mean, flat.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(var, flat.var(axis=0, ddof=0), rtol=1e-13)
    assert bn.count_per_channel(x.shape, layout) == flat.shape[0] == x.size // 4
    # the output is normalised per channel: mean 0 and variance var / (var + eps) in every channel
    y, _, _ = bn.train_forward(x, np.ones(4), np.zeros(4), EPS, layout)
    np.testing.assert_allclose(channels_last(y, layout).mean(axis=0), 0, atol=1e-13)
    np.testing.assert_allclose(channels_last(y, layout).var(axis=0), var / (var + EPS), rtol=1e-12)


def test_per_activation_moments_reduce_the_batch_axis_only():
    x = np.array([[[1.0, 10.0], [0.0, 5.0]], [[3.0, 20.0], [4.0, 5.0]]])   # (N=2, C=2, L=2)
    mean, var = bn.batch_moments(bn.per_activation(x), "NC")
    np.testing.assert_array_equal(mean.reshape(2, 2), [[2.0, 15.0], [2.0, 5.0]])
    np.testing.assert_array_equal(var.reshape(2, 2), [[1.0, 25.0], [4.0, 0.0]])
    assert bn.count_per_channel(bn.per_activation(x).shape, "NC") == 2


# --- running statistics -------------------------------------------------------------------------

def test_corrected_variance():
    np.testing.assert_array_equal(bn.corrected_variance([1.0, 2.0], 4, "biased"), [1.0, 2.0])
    np.testing.assert_allclose(bn.corrected_variance([1.0, 2.0], 4, "unbiased"), [4 / 3, 8 / 3], rtol=1e-15)
    with pytest.raises(ValueError, match="correction"):
        bn.corrected_variance(1.0, 4, "bessel")


def test_update_running_and_cumulative_by_hand():
    np.testing.assert_allclose(bn.update_running([0.0, 1.0], [2.0, 3.0], 0.9), [0.2, 1.2], rtol=1e-15)
    np.testing.assert_array_equal(bn.update_running(5.0, 7.0, 0.0), 7.0)   # decay 0: the batch value
    np.testing.assert_array_equal(bn.update_running(5.0, 7.0, 1.0), 5.0)   # decay 1: frozen
    np.testing.assert_array_equal(bn.update_cumulative(0.0, 6.0, 1), 6.0)  # the first batch replaces
    np.testing.assert_allclose(bn.update_cumulative(6.0, 3.0, 3), 5.0)      # (6 + 6 + 3) / 3 after 6, 6


def test_update_statistics_by_hand():
    # batch mean 2, biased variance 1 over n = 2 entries: unbiased 2
    np.testing.assert_allclose(bn.update_statistics([0.0], [1.0], [2.0], [1.0], 2, "unbiased", 0.9), ([0.2], [1.1]), rtol=1e-15)
    np.testing.assert_allclose(bn.update_statistics([0.0], [1.0], [2.0], [1.0], 2, "biased", 0.9), ([0.2], [1.0]), rtol=1e-15)
    # cumulative average at the second batch: the mean of the old value and the batch's
    np.testing.assert_allclose(bn.update_statistics([4.0], [6.0], [2.0], [1.0], 2, "unbiased", None, 2), ([3.0], [4.0]), rtol=1e-15)


def test_running_statistics_over_two_batches_by_hand():
    batches = [np.array([[1.0], [3.0]]), np.array([[0.0], [4.0]])]  # means 2, 2; biased vars 1, 4
    mean, var = bn.running_statistics(batches, "NC", [0.0], [1.0], "unbiased", decay=0.9)
    np.testing.assert_allclose(mean, [0.9 * 0.2 + 0.1 * 2], rtol=1e-14)              # 0.38
    np.testing.assert_allclose(var, [0.9 * (0.9 + 0.1 * 2) + 0.1 * 8], rtol=1e-14)    # 1.79
    mean, var = bn.running_statistics(batches, "NC", [0.0], [1.0], "biased", decay=0.9)
    np.testing.assert_allclose(var, [0.9 * (0.9 + 0.1 * 1) + 0.1 * 4], rtol=1e-14)
    # cumulative average: the plain mean of the batch statistics, whatever the initial values
    mean, var = bn.running_statistics(batches, "NC", [9.0], [9.0], "unbiased", decay=None)
    np.testing.assert_allclose(mean, [2.0])
    np.testing.assert_allclose(var, [(2.0 + 8.0) / 2])


@pytest.mark.parametrize("layout", ["NC", "NCHW", "NHWC"])
def test_running_statistics_matches_a_loop(layout):
    rng = np.random.default_rng(1)
    batches = [rng.normal(k, 1 + k, size=shape_of(layout, 4, 3, 2)) for k in range(4)]
    mean, var = np.zeros(3), np.ones(3)
    cum_mean, cum_var = np.zeros(3), np.zeros(3)
    for k, x in enumerate(batches, start=1):
        flat = channels_last(x, layout)
        mean = 0.7 * mean + 0.3 * flat.mean(0)
        var = 0.7 * var + 0.3 * flat.var(0, ddof=1)
        cum_mean, cum_var = cum_mean + (flat.mean(0) - cum_mean) / k, cum_var + (flat.var(0, ddof=1) - cum_var) / k
    got = bn.running_statistics(batches, layout, np.zeros(3), np.ones(3), "unbiased", decay=0.7)
    np.testing.assert_allclose(got, (mean, var), rtol=1e-13)
    got = bn.running_statistics(batches, layout, np.zeros(3), np.ones(3), "unbiased", decay=None)
    np.testing.assert_allclose(got[0], np.mean([channels_last(x, layout).mean(0) for x in batches], 0), rtol=1e-13)
    np.testing.assert_allclose(got[1], cum_var, rtol=1e-13)


# --- gradients: analytic against central finite differences -------------------------------------

def _fd(f, a, h=1e-5):
    """Central differences of the scalar f at every element of a (float64)."""
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        step = h * max(1.0, abs(a[i]))
        up, down = a.copy(), a.copy()
        up[i] += step
        down[i] -= step
        grad[i] = (f(up) - f(down)) / (2 * step)
    return grad


def _assert_rel(fd, analytic, name):
    # relative error per element; elements whose size is below 1e-2 are judged relative to 1e-2, since
    # the finite difference itself carries an absolute error (rounding and truncation) of about 1e-10 here
    rel = np.abs(fd - analytic) / np.maximum(np.abs(analytic), 1e-2)
    assert rel.max() < 1e-6, f"{name}: worst relative error {rel.max():.2e}"


@settings(max_examples=20, deadline=None)
@given(layout=st.sampled_from(["NC", "NCHW", "NHWC"]), batch=st.integers(2, 4), channels=st.integers(1, 3),
       spatial=st.integers(1, 3), eps=st.sampled_from([1e-5, 1e-3, 0.1]), seed=st.integers(0, 2**32 - 1))
def test_backward_matches_finite_differences(layout, batch, channels, spatial, eps, seed):
    rng = np.random.default_rng(seed)
    shape = shape_of(layout, batch, channels, spatial)
    x = rng.normal(size=shape) * rng.uniform(0.5, 3) + rng.normal()
    assume(bn.batch_moments(x, layout)[1].min() > 0.05)  # keep 1/sqrt(var) (and the FD curvature) moderate
    gamma, beta = rng.uniform(0.5, 2, channels), rng.normal(size=channels)
    dy = rng.normal(size=shape)
    rmean, rvar = rng.normal(size=channels), rng.uniform(0.5, 2, channels)

    train = lambda x_, g_, b_: np.sum(dy * bn.train_forward(x_, g_, b_, eps, layout)[0])  # noqa: E731
    dx, dgamma, dbeta = bn.train_backward(x, gamma, eps, dy, layout)
    _assert_rel(_fd(lambda v: train(v, gamma, beta), x), dx, "train dx")
    _assert_rel(_fd(lambda v: train(x, v, beta), gamma), dgamma, "train dgamma")
    _assert_rel(_fd(lambda v: train(x, gamma, v), beta), dbeta, "train dbeta")
    # dx sums to zero per channel: shifting a whole channel changes nothing in training mode
    np.testing.assert_allclose(channels_last(dx, layout).sum(0), 0, atol=1e-10)

    infer = lambda x_, g_, b_: np.sum(dy * bn.inference_forward(x_, rmean, rvar, g_, b_, eps, layout))  # noqa: E731
    dx, dgamma, dbeta = bn.inference_backward(x, rmean, rvar, gamma, eps, dy, layout)
    _assert_rel(_fd(lambda v: infer(v, gamma, beta), x), dx, "inference dx")
    _assert_rel(_fd(lambda v: infer(x, v, beta), gamma), dgamma, "inference dgamma")
    _assert_rel(_fd(lambda v: infer(x, gamma, v), beta), dbeta, "inference dbeta")


def test_sgd_step():
    np.testing.assert_allclose(bn.sgd_step([1.0, 2.0], [0.5, -1.0], 0.1), [0.95, 2.1], rtol=1e-15)
    assert bn.sgd_step(np.float32(1), np.float32(1), 0.5).dtype == np.float64
