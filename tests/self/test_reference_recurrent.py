"""reference.recurrent: one step of each cell by hand, masks, stacking."""
import numpy as np

from layerconf.reference import recurrent as ref


def sig(a):
    return 1 / (1 + np.exp(-a))


def weights(kernel, recurrent, bias=0.0, recurrent_bias=0.0):
    k = np.array([kernel], float)
    return {"kernel": k, "recurrent_kernel": np.array([recurrent], float),
            "bias": np.full(k.shape[1], bias) if np.isscalar(bias) else np.array(bias, float),
            "recurrent_bias": np.full(k.shape[1], recurrent_bias) if np.isscalar(recurrent_bias) else np.array(recurrent_bias, float)}


def test_rnn_step():
    h, _ = ref.step("rnn", np.array([[1.0]]), np.array([[0.3]]), None, weights([0.5], [2.0], 0.1))
    assert np.isclose(h[0, 0], np.tanh(0.5 + 0.1 + 0.6))


def test_lstm_step():
    w = weights([1, 2, 3, 4], [0, 0, 0, 0])
    h, c = ref.step("lstm", np.array([[0.5]]), np.array([[0.0]]), np.array([[0.2]]), w)
    c_expected = sig(1.0) * 0.2 + sig(0.5) * np.tanh(1.5)
    assert np.isclose(c[0, 0], c_expected) and np.isclose(h[0, 0], sig(2.0) * np.tanh(c_expected))


def test_gru_step_reset_after_the_product():
    w = weights([1, 2, 3], [0.5, 0.5, 0.5], 0.0, [0.0, 0.0, 0.1])
    h, _ = ref.step("gru", np.array([[1.0]]), np.array([[0.4]]), None, w)
    r, z = sig(1.2), sig(2.2)
    assert np.isclose(h[0, 0], (1 - z) * np.tanh(3 + r * 0.3) + z * 0.4)


def test_masks_reach_only_the_products():
    w = weights([1.0], [0.5], 0.2)
    x = np.ones((1, 3, 1))
    dropped = ref.layer("rnn", x, w, in_mask=np.zeros((1, 3, 1)))
    assert np.allclose(dropped, ref.layer("rnn", 0 * x, w))
    # the state mask scales h_{t-1} in the product only: with it 2, the product reads 2 h
    h1 = np.tanh(1.2)
    y = ref.layer("rnn", x, w, state_mask=np.full((1, 3, 1), 2.0))
    assert np.isclose(y[0, 1, 0], np.tanh(1.2 + 0.5 * 2 * h1))


def test_stack_between_masks_scale_the_next_input():
    w = weights([1.0], [0.0])
    x = np.full((1, 2, 1), 0.5)
    mask = ref.scaled(np.array([[[1], [0]]]), 0.5)
    y = ref.stack("rnn", x, [w, w], between=[mask])
    assert np.allclose(y[0, :, 0], [np.tanh(2 * np.tanh(0.5)), 0.0])


def test_constant_over_time():
    keep = np.array([[[1, 0], [1, 1]]], bool)
    assert ref.constant_over_time(keep).tolist() == [[True, False]]
