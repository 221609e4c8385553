"""The attention reference against hand-computed values."""
import numpy as np

from reference import attention as ref


def _identity_params(e, heads):
    d = e // heads
    eye = np.eye(e)
    return {"q_kernel": eye.reshape(e, heads, d), "q_bias": np.zeros((heads, d)),
            "k_kernel": eye.reshape(e, heads, d), "k_bias": np.zeros((heads, d)),
            "v_kernel": eye.reshape(e, heads, d), "v_bias": np.zeros((heads, d)),
            "o_kernel": eye.reshape(heads, d, e), "o_bias": np.zeros(e)}


def test_softmax_by_hand():
    np.testing.assert_allclose(ref.softmax(np.array([0.0, np.log(3.0)])), [0.25, 0.75])


def test_one_head_by_hand():
    # q = [1, 0], keys [1, 0] and [0, 0]: scores 1/sqrt(2) and 0; y = A @ values
    p = _identity_params(2, 1)
    q, k, v = np.array([[[1.0, 0.0]]]), np.array([[[1.0, 0.0], [0.0, 0.0]]]), np.array([[[2.0, 0.0], [0.0, 4.0]]])
    a0 = np.exp(1 / np.sqrt(2)) / (np.exp(1 / np.sqrt(2)) + 1)
    np.testing.assert_allclose(ref.weights(q, k, p)[0, 0, 0], [a0, 1 - a0])
    np.testing.assert_allclose(ref.attention(q, k, v, p)[0, 0], [2 * a0, 4 * (1 - a0)])


def test_dropout_scales_kept_weights():
    p = _identity_params(2, 1)
    q, k, v = np.zeros((1, 1, 2)), np.zeros((1, 2, 2)), np.array([[[2.0, 0.0], [0.0, 4.0]]])
    keep = np.array([True, False]).reshape(1, 1, 1, 2)
    np.testing.assert_allclose(ref.attention(q, k, v, p, keep, 0.5)[0, 0], [2.0, 0.0])   # 0.5 / 0.5 * 2


def test_heads_are_separate():
    # two heads of one dimension each: head h attends with its own coordinate
    p = _identity_params(2, 2)
    q, k = np.array([[[1.0, -1.0]]]), np.array([[[1.0, 1.0], [0.0, 0.0]]])
    a = ref.weights(q, k, p)[0, :, 0]
    np.testing.assert_allclose(a[0], [np.e / (np.e + 1), 1 / (np.e + 1)])
    np.testing.assert_allclose(a[1], [1 / (1 + np.e), np.e / (1 + np.e)])


def test_exposing_value_shows_weights_and_row_sums():
    rng = np.random.default_rng(0)
    heads, s, n, length = 2, 3, 2, 5
    value, exposing = ref.exposing_value(n, s, heads)
    e = heads * (s + 1)
    params = {**_identity_params(e, heads), **exposing}
    a = ref.softmax(rng.standard_normal((n, heads, length, s)))
    keep = rng.random(a.shape) < 0.5
    y = ref.output(ref.dropped(a, keep, 0.5), value, params)
    np.testing.assert_allclose(ref.shown_weights(y, heads), ref.dropped(a, keep, 0.5))
    sums = y.reshape(n, length, heads, s + 1)[..., -1].transpose(0, 2, 1)
    np.testing.assert_allclose(sums, ref.dropped(a, keep, 0.5).sum(-1))
