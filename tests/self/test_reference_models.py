"""reference.models: the step models by hand, against the reference's functions, and by finite differences."""
import numpy as np
import pytest

from layerconf.reference import batchnorm as bn
from layerconf.reference import head
from layerconf.reference.layout import shape_of
from layerconf.reference.models import BatchNorm, Conventions, FlagModel
from tests.self.test_reference_batchnorm import _assert_rel, _fd

EPS = 1e-5
UNBIASED = Conventions("unbiased")


def _state(rng, channels=3):
    return {"gamma": rng.uniform(0.5, 2, channels), "beta": rng.normal(size=channels),
            "running_mean": rng.normal(size=channels), "running_var": rng.uniform(0.5, 2, channels)}


def test_conventions_hold_eps_and_decay_in_the_arguments_dtype():
    assert Conventions().held(0.9) == 0.9
    assert Conventions(arguments_dtype="float32").held(0.9) == float(np.float32(0.9)) != 0.9
    assert Conventions(arguments_dtype="float32").held(None) is None
    model = BatchNorm(1e-5, 0.9, "NC", Conventions(arguments_dtype="float32"))
    assert (model.eps, model.decay) == (float(np.float32(1e-5)), float(np.float32(0.9)))


def test_scalars_dtype_rounds_each_weight_on_its_own():
    f32 = lambda v: float(np.float32(v))   # noqa: E731
    model = BatchNorm(1e-5, 0.9, "NC", Conventions(scalars_dtype="float32"), running_mean=[1.0], running_var=[1.0])
    assert (model.eps, model.decay, model.batch_weight) == (f32(1e-5), f32(0.9), f32(1 - 0.9))
    model.forward(np.array([[1.0], [3.0]]), training=True)   # batch mean 2, biased variance 1
    assert model.running_mean[0] == f32(0.9) * 1.0 + f32(1 - 0.9) * 2.0 != 0.9 + 0.1 * 2.0


def test_one_training_step_by_hand():
    x = np.array([[1.0], [3.0]])   # mean 2, biased variance 1, n = 2
    for conventions, var in ((Conventions("biased"), 0.9 + 0.1 * 1), (UNBIASED, 0.9 + 0.1 * 2)):
        model = BatchNorm(EPS, 0.9, "NC", conventions, running_mean=[0.0], running_var=[1.0])
        y = model.forward(x, training=True)
        np.testing.assert_allclose(y, [[-1 / np.sqrt(1 + EPS)], [1 / np.sqrt(1 + EPS)]], rtol=1e-15)
        np.testing.assert_allclose(model.running_mean, [0.2], rtol=1e-15)
        np.testing.assert_allclose(model.running_var, [var], rtol=1e-15)


@pytest.mark.parametrize("layout", ["NC", "NCHW", "NHWC"])
@pytest.mark.parametrize("decay", [0.7, None])
def test_training_steps_equal_running_statistics(layout, decay):
    rng = np.random.default_rng(0)
    s = _state(rng)
    batches = [rng.normal(k, 1 + k, size=shape_of(layout, n, 3, 2)) for k, n in enumerate((2, 5, 3))]
    model = BatchNorm(EPS, decay, layout, UNBIASED, **s)
    for k, x in enumerate(batches, start=1):
        np.testing.assert_array_equal(model.forward(x, training=True), bn.train_forward(x, s["gamma"], s["beta"], EPS, layout)[0])
        expected = bn.running_statistics(batches[:k], layout, s["running_mean"], s["running_var"], "unbiased", decay)
        np.testing.assert_array_equal((model.running_mean, model.running_var), expected)
        assert model.batches_seen == k
    np.testing.assert_array_equal(model.gamma, s["gamma"])   # a forward pass leaves the parameters


def test_cumulative_average_is_the_mean_of_the_batch_statistics():
    batches = [np.array([[1.0], [3.0]]), np.array([[0.0], [4.0]]), np.array([[5.0], [5.0]])]   # means 2, 2, 5
    model = BatchNorm(EPS, None, "NC", running_mean=[9.0], running_var=[9.0])
    for x in batches:
        model.forward(x, training=True)
    np.testing.assert_allclose(model.running_mean, [3.0], rtol=1e-15)
    np.testing.assert_allclose(model.running_var, [(1.0 + 4.0 + 0.0) / 3], rtol=1e-15)


def test_inference_uses_the_running_statistics_and_leaves_them():
    rng = np.random.default_rng(1)
    s = _state(rng)
    x = rng.normal(size=(4, 3, 2))
    model = BatchNorm(EPS, 0.9, "NCL", **s)
    y = model.forward(x, training=False)
    np.testing.assert_array_equal(y, bn.inference_forward(x, s["running_mean"], s["running_var"], s["gamma"], s["beta"], EPS, "NCL"))
    for key, value in model.state().items():
        np.testing.assert_array_equal(value, s[key])
    assert model.batches_seen == 0


def test_defaults_are_the_identity_affine_and_unit_statistics():
    x = np.random.default_rng(2).normal(size=(5, 3))
    model = BatchNorm(EPS, 0.9, "NC")
    np.testing.assert_array_equal(model.forward(x, training=False), x / np.sqrt(1 + EPS))
    np.testing.assert_allclose(model.forward(x, training=True), bn.train_forward(x, np.ones(3), np.zeros(3), EPS, "NC")[0], rtol=1e-15)


def test_no_running_statistics_normalizes_with_the_batch_in_both_modes():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 3))
    gamma, beta = rng.uniform(0.5, 2, 3), rng.normal(size=3)
    model = BatchNorm(EPS, 0.9, "NC", gamma=gamma, beta=beta, running_mean=None, running_var=None)
    train = bn.train_forward(x, gamma, beta, EPS, "NC")[0]
    np.testing.assert_array_equal(model.forward(x, training=False), train)
    np.testing.assert_array_equal(model.forward(x, training=True), train)
    np.testing.assert_array_equal(model.backward(x, x, training=False)[0], bn.train_backward(x, gamma, EPS, x, "NC")[0])
    assert model.state()["running_mean"] is None and model.state()["running_var"] is None


def test_masked_forward_uses_the_kept_entries():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 5, 3))   # NLC
    mask = rng.uniform(size=(4, 5)) < 0.5
    mask[0, :2] = True
    s = _state(rng)
    model = BatchNorm(EPS, 0.8, "NLC", UNBIASED, **s)
    y = model.forward(x, training=True, mask=mask)
    mean, var = bn.masked_moments(x, mask, "NLC")
    np.testing.assert_array_equal(y, bn.normalize(x, mean, var, s["gamma"], s["beta"], EPS, "NLC"))
    np.testing.assert_array_equal(model.running_mean, bn.update_running(s["running_mean"], mean, 0.8))
    k = int(mask.sum())
    np.testing.assert_array_equal(model.running_var, bn.update_running(s["running_var"], var * k / (k - 1), 0.8))
    full = BatchNorm(EPS, 0.8, "NLC", UNBIASED, **s)
    np.testing.assert_allclose(full.forward(x, training=True, mask=np.ones((4, 5))),
                               BatchNorm(EPS, 0.8, "NLC", UNBIASED, **s).forward(x, training=True), rtol=1e-13)


@pytest.mark.parametrize("training", [True, False])
def test_backward_is_the_reference_backward_and_changes_nothing(training):
    rng = np.random.default_rng(5)
    s = _state(rng)
    x, dy = rng.normal(size=(4, 3, 2, 2)), rng.normal(size=(4, 3, 2, 2))
    model = BatchNorm(EPS, 0.9, "NCHW", **s)
    expected = (bn.train_backward(x, s["gamma"], EPS, dy, "NCHW") if training else
                bn.inference_backward(x, s["running_mean"], s["running_var"], s["gamma"], EPS, dy, "NCHW"))
    for got, want in zip(model.backward(x, dy, training), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    for key, value in model.state().items():
        np.testing.assert_array_equal(value, s[key])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("trainable", [True, False])
def test_sgd_step(training, trainable):
    rng = np.random.default_rng(6)
    s = _state(rng)
    x, dy = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    model = BatchNorm(EPS, 0.9, "NC", **s)
    dx, dgamma, dbeta = BatchNorm(EPS, 0.9, "NC", **s).backward(x, dy, training)
    forward = BatchNorm(EPS, 0.9, "NC", **s)
    y_expected = forward.forward(x, training)
    y, got_dx = model.sgd_step(x, dy, 0.5, training, trainable)
    np.testing.assert_array_equal(y, y_expected)
    np.testing.assert_array_equal(got_dx, dx)
    # the running statistics follow the forward pass in that mode (updated only when training)
    np.testing.assert_array_equal(model.running_mean, forward.running_mean)
    np.testing.assert_array_equal(model.running_var, forward.running_var)
    assert np.array_equal(model.running_mean, s["running_mean"]) != training
    if trainable:
        np.testing.assert_allclose(model.gamma, s["gamma"] - 0.5 * dgamma, rtol=1e-15)
        np.testing.assert_allclose(model.beta, s["beta"] - 0.5 * dbeta, rtol=1e-15)
    else:
        np.testing.assert_array_equal(model.gamma, s["gamma"])
        np.testing.assert_array_equal(model.beta, s["beta"])


def test_state_is_a_copy():
    s = _state(np.random.default_rng(7))
    model = BatchNorm(EPS, 0.9, "NC", **s)
    s["gamma"][0] = 100.0
    model.state()["running_mean"][0] = 100.0
    assert model.gamma[0] != 100.0 and model.running_mean[0] != 100.0


BN_KEYS = ("gamma", "beta", "running_mean", "running_var")


def _flag_model(params):
    return FlagModel(BatchNorm(1e-3, 0.8, "NC", UNBIASED, **{k: params[k] for k in BN_KEYS}), params["kernel"], params["bias"])


@pytest.mark.parametrize("training", [True, False])
def test_flag_model_step_follows_the_gradient_of_its_loss(training):
    rng = np.random.default_rng(8)
    params = {**_state(rng), "kernel": rng.uniform(-1, 1, (3, 1)), "bias": rng.uniform(-1, 1, 1)}
    x, t = rng.normal(size=(8, 3)) * 2 + 1, rng.normal(size=(8, 1))
    model = _flag_model(params)
    lr = 0.1
    loss = model.sgd_step(x, t, lr, training)
    assert loss == _flag_model(params).loss(x, t, training)   # the loss before the step
    after = model.state()
    for key in ("gamma", "beta", "kernel", "bias"):
        def loss_at(value, key=key):
            return _flag_model({**params, key: value}).loss(x, t, training)
        _assert_rel(_fd(loss_at, params[key]), (params[key] - after[key]) / lr, key)
    # the BatchNorm's running statistics take exactly its own forward pass in that mode
    bn_alone = BatchNorm(1e-3, 0.8, "NC", UNBIASED, **{k: params[k] for k in BN_KEYS})
    h = bn_alone.forward(x, training)
    np.testing.assert_array_equal(after["running_mean"], bn_alone.running_mean)
    np.testing.assert_array_equal(after["running_var"], bn_alone.running_var)
    assert loss == head.mse(head.dense(h, params["kernel"], params["bias"]), t)


def test_flag_model_frozen_batchnorm_keeps_gamma_and_beta():
    rng = np.random.default_rng(9)
    params = {**_state(rng), "kernel": rng.uniform(-1, 1, (3, 1)), "bias": rng.uniform(-1, 1, 1)}
    model = _flag_model(params)
    model.sgd_step(rng.normal(size=(8, 3)), rng.normal(size=(8, 1)), 0.1, training=True, bn_trainable=False)
    after = model.state()
    np.testing.assert_array_equal(after["gamma"], params["gamma"])
    np.testing.assert_array_equal(after["beta"], params["beta"])
    assert not np.array_equal(after["kernel"], params["kernel"]) and not np.array_equal(after["running_mean"], params["running_mean"])


EMA = Conventions(training_statistics="updated_running")


def test_updated_running_training_by_hand():
    """Equinox mode='ema', decay 0.9: a fresh model's first call normalises with and stores the batch moments;
    later calls with m = 0.1 mean_B + 0.9 rm, v = 0.1 var_B + 0.9 rv, which they store."""
    x = np.array([[1.0], [3.0]])   # mean 2, biased variance 1
    model = BatchNorm(EPS, 0.9, "NC", EMA, running_mean=[0.0], running_var=[1.0])   # set statistics: not fresh
    np.testing.assert_allclose(model.forward(x, training=True), [[0.8], [2.8]] / np.sqrt(1.0 + EPS), rtol=1e-15)
    np.testing.assert_allclose((model.running_mean, model.running_var), ([0.2], [1.0]), rtol=1e-15)
    model = BatchNorm(EPS, 0.9, "NC", EMA, running_mean=[0.0], running_var=[0.0], fresh=True)
    np.testing.assert_allclose(model.forward(x, training=True), [[-1.0], [1.0]] / np.sqrt(1.0 + EPS), rtol=1e-15)
    np.testing.assert_allclose((model.running_mean, model.running_var), ([2.0], [1.0]), rtol=1e-15)
    x2 = np.array([[0.0], [4.0]])  # mean 2, biased variance 4: m = 2, v = 0.1 * 4 + 0.9 * 1 = 1.3
    np.testing.assert_allclose(model.forward(x2, training=True), [[-2.0], [2.0]] / np.sqrt(1.3 + EPS), rtol=1e-15)
    np.testing.assert_allclose((model.running_mean, model.running_var), ([2.0], [1.3]), rtol=1e-15)
    assert not BatchNorm(EPS, 0.9, "NC", fresh=True).fresh   # the 'batch' convention has no first-call rule


@pytest.mark.parametrize("layout", ["NC", "NCHW", "NHWC"])
@pytest.mark.parametrize("fresh", [False, True])
def test_updated_running_backward_matches_finite_differences(layout, fresh):
    rng = np.random.default_rng(1)
    s = _state(rng)
    x, dy = rng.normal(1.0, 2.0, shape_of(layout, 4, 3, 2)), rng.normal(size=shape_of(layout, 4, 3, 2))
    model = lambda **kw: BatchNorm(0.1, 0.7, layout, EMA, fresh=fresh, **{**s, **kw})  # noqa: E731
    dx, dgamma, dbeta = model().backward(x, dy, training=True)
    _assert_rel(_fd(lambda v: np.sum(dy * model().output(v, training=True)), x), dx, "dx")
    _assert_rel(_fd(lambda g: np.sum(dy * model(gamma=g).output(x, training=True)), s["gamma"]), dgamma, "dgamma")
    _assert_rel(_fd(lambda b: np.sum(dy * model(beta=b).output(x, training=True)), s["beta"]), dbeta, "dbeta")
    assert np.allclose(dx, bn.train_backward(x, s["gamma"], 0.1, dy, layout)[0]) == fresh   # w = 1 on the first call
