"""reference.nested: the nested model's forward in each mode of the base, its SGD step by finite differences, the
frozen parts, and the mask read from the features."""
import numpy as np
import pytest

from layerconf.reference import head
from layerconf.reference.models import BatchNorm, Conventions
from layerconf.reference.nested import NestedModel, keep_mask
from tests.self.test_reference_batchnorm import _assert_rel, _fd

EPS, DECAY, RATE = 1e-3, 0.75, 0.5


def _model(rng, base_training, channels=3, rate=RATE):
    bn = BatchNorm(EPS, DECAY, "NC", Conventions("unbiased"), gamma=rng.uniform(0.5, 2, channels),
                   beta=rng.normal(size=channels), running_mean=rng.normal(size=channels),
                   running_var=rng.uniform(0.5, 2, channels))
    return NestedModel(bn, rate, rng.normal(size=(channels, 1)), rng.normal(size=1), base_training)


def test_forward_by_hand_in_both_modes():
    bn = BatchNorm(0.0, 0.5, "NC", Conventions("biased"), running_mean=[1.0], running_var=[4.0])
    model = NestedModel(bn, 0.5, [[2.0]], [1.0], base_training=False)
    x = np.array([[1.0], [3.0]])   # batch mean 2, biased variance 1
    h, p = model.forward(x)
    np.testing.assert_allclose(h, [[0.0], [1.0]])           # (x - 1) / 2: running statistics, no dropout
    np.testing.assert_allclose(p, [[1.0], [3.0]])
    assert (bn.running_mean[0], bn.running_var[0]) == (1.0, 4.0)   # inference keeps them
    model.base_training = True
    h, p = model.forward(x, keep=np.array([[True], [False]]))
    np.testing.assert_allclose(h, [[-2.0], [0.0]])          # (x - 2) / 1, scaled by 1 / (1 - 0.5), second dropped
    np.testing.assert_allclose(p, [[-3.0], [1.0]])
    np.testing.assert_allclose([bn.running_mean[0], bn.running_var[0]], [1.5, 2.5])   # 0.5 old + 0.5 batch


def test_keep_mask_reads_zeros():
    assert keep_mask([[0.0, 2.0], [-1.0, 0.0]]).tolist() == [[False, True], [True, False]]


@pytest.mark.parametrize("base_training", [True, False])
def test_sgd_step_by_finite_differences(base_training):
    rng = np.random.default_rng(3)
    x, t = rng.normal(size=(6, 3)), rng.normal(size=(6, 1))
    keep = rng.random((6, 3)) < 0.5
    model = _model(rng, base_training)
    s = model.state()

    def loss(gamma=s["gamma"], beta=s["beta"], kernel=s["kernel"], bias=s["bias"]):
        bn = BatchNorm(EPS, DECAY, "NC", Conventions("unbiased"), gamma=gamma, beta=beta,
                       running_mean=s["running_mean"], running_var=s["running_var"])
        h = NestedModel(bn, RATE, kernel, bias, base_training).features(x, keep)
        return head.mse(head.dense(h, kernel, bias), t)

    lr = 0.1
    before = model.sgd_step(x, t, lr, keep)
    assert before == pytest.approx(loss())
    after = model.state()
    for key in ("gamma", "beta", "kernel", "bias"):
        grad = _fd(lambda v, key=key: loss(**{key: v}), s[key])
        _assert_rel(grad, (s[key] - after[key]) / lr, key)
    moved = not np.allclose(after["running_mean"], s["running_mean"])
    assert moved == base_training


def test_frozen_parts_keep_their_weights():
    rng = np.random.default_rng(4)
    x, t = rng.normal(size=(6, 3)), rng.normal(size=(6, 1))
    model = _model(rng, base_training=False)
    s = model.state()
    model.sgd_step(x, t, 0.1, base_trainable=False)
    after = model.state()
    for key in ("gamma", "beta", "running_mean", "running_var"):
        assert np.array_equal(after[key], s[key])
    assert not np.allclose(after["kernel"], s["kernel"])
    model.base_training = True   # a frozen base in training mode: weights kept, statistics move
    model.sgd_step(x, t, 0.1, base_trainable=False, head_trainable=False)
    final = model.state()
    assert np.array_equal(final["gamma"], s["gamma"]) and np.array_equal(final["kernel"], after["kernel"])
    assert not np.allclose(final["running_mean"], s["running_mean"])


def test_rate_zero_is_the_identity_in_training():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(5, 3))
    model = _model(rng, True, rate=0.0)
    np.testing.assert_array_equal(model.features(x), model.bn.output(x, True))


def test_frozen_means_inference_keeps_the_batchnorm_and_not_the_dropout():
    """A frozen base in training: by default its BatchNorm trains; where frozen means inference (Keras) it runs on
    the running statistics and keeps them, while the Dropout still drops and scales."""
    x, keep = np.array([[1.0], [3.0]]), np.array([[True], [False]])   # batch mean 2, biased variance 1

    def model(frozen_means_inference):
        bn = BatchNorm(0.0, 0.5, "NC", Conventions("biased"), running_mean=[1.0], running_var=[4.0])
        return bn, NestedModel(bn, 0.5, [[2.0]], [1.0], True, True, frozen_means_inference)

    bn, plain = model(False)
    assert plain.bn_training
    h, _ = plain.forward(x, keep)
    np.testing.assert_allclose(h, [[-2.0], [0.0]])           # batch statistics, scaled by 2, second dropped
    np.testing.assert_allclose([bn.running_mean[0], bn.running_var[0]], [1.5, 2.5])
    bn, keras_like = model(True)
    assert not keras_like.bn_training and keras_like.base_training
    h, p = keras_like.forward(x, ~keep)
    np.testing.assert_allclose(h, [[0.0], [2.0]])            # (x - 1) / 2 = 0, 1; first dropped, second scaled by 2
    np.testing.assert_allclose(p, [[1.0], [5.0]])
    assert (bn.running_mean[0], bn.running_var[0]) == (1.0, 4.0)
    keras_like.sgd_step(x, np.array([[0.0], [0.0]]), 0.1, keep, base_trainable=False)
    assert (bn.running_mean[0], bn.running_var[0]) == (1.0, 4.0)


def test_frozen_means_inference_needs_a_frozen_base():
    bn = BatchNorm(0.0, 0.5, "NC", Conventions("biased"))
    assert NestedModel(bn, 0.5, [[1.0]], [0.0], True, False, True).bn_training
    assert not NestedModel(bn, 0.5, [[1.0]], [0.0], False, True, True).bn_training
