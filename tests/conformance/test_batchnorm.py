"""BatchNormalization conformance: one test per catalogue behaviour (specs/behaviours/batchnorm.yaml)."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from layerconf.reference import batchnorm as ref
from layerconf.reference.dtypes import quantize
from layerconf.reference.layout import channel_axis, channel_shape, shape_of

from . import draw
from .calls import outcome
from .helpers import (
    DECAY,
    EPS,
    LR,
    SUITE,
    build,
    observe_trajectory,
    reference_model,
    set_affine,
    set_all,
    small_batch,
    train_steps,
    trajectory,
)
from .layers import make_layer

behaviour = pytest.mark.behaviour
# bn.train.output's shapes (batch, channels, spatial): the edges the behaviour has (a batch of two, one channel,
# no spatial extent), the shape of bn.eval.output and the largest. Under JAX each new shape is a new compilation,
# so hypothesis picks among these and draws the values freely.
SHAPES = [(2, 1, 1), (5, 4, 3), (6, 5, 4)]


@pytest.fixture
def kept_layers():
    """Layers kept across the examples of one hypothesis test (channels -> layer)."""
    return {}


@behaviour("bn.train.output")
@settings(SUITE, max_examples=8)
@given(shape=st.sampled_from(SHAPES), values=st.integers(0, 2**32 - 1))
def test_train_output(case, adapter, profile, check, kept_layers, shape, values):
    """Where a training call normalises with the batch moments (training_statistics 'batch'), its output depends on x,
    gamma, beta and eps only: one layer per channel count serves every example, as one layer serves every batch of a
    training loop (a compiled path then makes a program per shape, not per example); otherwise a fresh layer each."""
    n, c, s = shape
    rng = np.random.default_rng(values)
    x = draw.batch(rng, case["layout"], case["dtype"], n, c, s)
    mean, var = ref.batch_moments(x, case["layout"])
    assume(np.all(mean**2 <= 16 * var))   # |mean_B| <= 4 sd_B: cancellation is bn.train.offset_data's concern
    if profile.get("batchnorm.training_statistics", "batch") != "batch":
        kept_layers.clear()
    if c not in kept_layers:
        kept_layers[c] = build(adapter, profile, case, c, eps=EPS, decay=DECAY)
    layer = kept_layers[c]
    gamma, beta = set_affine(layer, rng, case, c)
    expected = reference_model(profile, case, gamma=gamma, beta=beta).forward(x, training=True)
    check.close("y", layer.forward(x, training=True), expected)


@behaviour("bn.train.masked")
def test_train_masked(case, adapter, profile, check, rng):
    layout, dtype = case["layout"], case["dtype"]
    x = draw.batch(rng, layout, dtype, 6, 3, 5)
    mask = rng.uniform(size=np.delete(x.shape, channel_axis(layout))) < 0.6
    mask.flat[:2] = True   # at least two kept entries per channel
    layer = build(adapter, profile, case, 3, eps=EPS, decay=DECAY)
    gamma, beta = set_affine(layer, rng, case, 3)
    mean0, var0 = draw.running(rng, 3, dtype)
    layer.set_state(running_mean=mean0, running_var=var0)
    y = layer.forward_masked(x, mask, training=True)
    model = reference_model(profile, case, gamma=gamma, beta=beta, running_mean=mean0, running_var=var0)
    check.close("y", y, model.forward(x, training=True, mask=mask))
    state = layer.state()
    check.close("running_mean", state["running_mean"], model.running_mean)
    check.close("running_var", state["running_var"], model.running_var)


@behaviour("bn.train.small_variance")
def test_train_small_variance(case, adapter, profile, check, rng):
    eps = case["eps"]
    x = small_batch(rng, case, eps)
    layer = build(adapter, profile, case, 3, eps=eps, decay=DECAY)
    gamma, beta = set_affine(layer, rng, case, 3)
    expected = reference_model(profile, case, eps=eps, gamma=gamma, beta=beta).forward(x, training=True)
    check.close("y", layer.forward(x, training=True), expected)


@behaviour("bn.train.running_mean")
def test_running_mean(case, adapter, profile, check, rng):
    decay = case["decay"]
    layer, batches, initial, states = train_steps(case, adapter, profile, rng, decay)
    expected = trajectory(reference_model(profile, case, decay=decay, **initial), batches)
    actual = layer.state()["running_mean"]
    if case["steps"] == 1:
        batch_mean = ref.batch_moments(batches[0], case["layout"])[0]
        check.observe("decay", float(np.median((actual - batch_mean) / (initial["running_mean"] - batch_mean))))
        check.observe("decay_argument", profile.native("batchnorm", decay=decay))
        check.observe("eps_argument", profile.native("batchnorm", eps=EPS))
    else:
        observe_trajectory(check, "running_mean", initial, states, expected)
    check.close("running_mean", actual, expected[-1]["running_mean"])


@behaviour("bn.train.running_var")
def test_running_var(case, adapter, profile, check, rng):
    decay = case["decay"]
    layer, batches, initial, states = train_steps(case, adapter, profile, rng, decay)
    expected = trajectory(reference_model(profile, case, decay=decay, **initial), batches)
    actual = layer.state()["running_var"]
    if case["steps"] == 1 and decay < 1:
        var_b = ref.batch_moments(batches[0], case["layout"])[1]
        n = ref.count_per_channel(batches[0].shape, case["layout"])
        check.observe("running_var_factor", float(np.median((actual - decay * initial["running_var"]) / ((1 - decay) * var_b))))
        check.observe("n", n)
    elif case["steps"] > 1:
        observe_trajectory(check, "running_var", initial, states, expected)
    check.close("running_var", actual, expected[-1]["running_var"])


@behaviour("bn.train.cumulative_average")
def test_cumulative_average(case, adapter, profile, check, rng):
    native = {**profile.native("batchnorm", eps=EPS), **profile.get("batchnorm.cumulative_average")}
    layer = make_layer(adapter, profile, "batchnorm", case["dtype"], layout=case["layout"], channels=3, native=native)
    batches = [draw.batch(rng, case["layout"], case["dtype"], n, 3, 3) for n in (3, 5, 8)[: case["steps"]]]
    for x in batches:
        layer.forward(x, training=True)
    expected = trajectory(reference_model(profile, case, decay=None, **profile.get("batchnorm.initial")), batches)[-1]
    state = layer.state()
    check.close("running_mean", state["running_mean"], expected["running_mean"])
    check.close("running_var", state["running_var"], expected["running_var"])


@behaviour("bn.eval.output")
def test_eval_output(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 5, 4, 3)
    layer = build(adapter, profile, case, 4, eps=EPS, decay=DECAY)
    s = set_all(layer, rng, case, 4)
    expected = reference_model(profile, case, **s).forward(x, training=False)
    check.close("y", layer.forward(x, training=False), expected)


@behaviour("bn.eval.state_unchanged")
def test_eval_state_unchanged(case, adapter, profile, check, rng):
    layer = build(adapter, profile, case, 4, eps=EPS, decay=DECAY)
    set_all(layer, rng, case, 4)
    before = layer.state()
    for _ in range(2):
        layer.forward(draw.batch(rng, case["layout"], case["dtype"], 5, 4, 3), training=False)
    after = layer.state()
    for key, value in before.items():
        check.equal(key, after[key], value)


@behaviour("bn.eval.batch_independent")
def test_eval_batch_independent(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 6, 4, 3)
    layer = build(adapter, profile, case, 4, eps=EPS, decay=DECAY)
    s = set_all(layer, rng, case, 4)
    expected = reference_model(profile, case, **s).forward(x[:1], training=False)
    alone, in_batch = layer.forward(x[:1], training=False), layer.forward(x, training=False)[:1]
    check.observe("inference_batch_difference", float(np.max(np.abs(np.asarray(alone, np.float64) - np.asarray(in_batch, np.float64)))))
    check.close("y[0] alone", alone, expected)
    check.close("y[0] in the batch", in_batch, expected)


@behaviour("bn.train.batch_dependent")
def test_train_batch_dependent(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 6, 4, 3)
    other = x.copy()
    other[1:] = quantize(3 * x[1:] + 1, case["dtype"])
    layer = build(adapter, profile, case, 4, eps=EPS, decay=DECAY)
    gamma, beta = set_affine(layer, rng, case, 4)
    model = reference_model(profile, case, gamma=gamma, beta=beta)
    expected_a, expected_b = model.forward(x, training=True)[:1], model.forward(other, training=True)[:1]
    assert np.abs(expected_a - expected_b).max() > 0.1, "test input does not separate the two batches"
    check.close("y[0] with batch A", layer.forward(x, training=True)[:1], expected_a)
    check.close("y[0] with batch B", layer.forward(other, training=True)[:1], expected_b)
    check.observe("training_output_depends_on_batch", True)


@behaviour("bn.mode.round_trip")
def test_round_trip(case, adapter, profile, check, rng):
    layout, dtype = case["layout"], case["dtype"]
    layer = build(adapter, profile, case, 3, eps=EPS, decay=DECAY)
    s = set_all(layer, rng, case, 3)
    x1, x2, x3 = (draw.batch(rng, layout, dtype, n, 3, 3) for n in (4, 5, 6))
    model = reference_model(profile, case, **s)
    layer.forward(x1, training=True)
    model.forward(x1, training=True)
    check.close("running_mean after train", layer.state()["running_mean"], model.running_mean)
    y2 = layer.forward(x2, training=False)
    held = layer.state()  # statistics as the framework stores them, for the next expectation
    check.close("y in eval", y2, reference_model(profile, case, gamma=s["gamma"], beta=s["beta"], running_mean=held["running_mean"],
                                                 running_var=held["running_var"]).forward(x2, training=False))
    check.close("y in train again", layer.forward(x3, training=True), model.forward(x3, training=True))
    check.close("running_mean after train, eval, train", layer.state()["running_mean"], model.running_mean)
    check.close("running_var after train, eval, train", layer.state()["running_var"], model.running_var)


@behaviour("bn.state.save_load")
def test_save_load(case, adapter, profile, check, rng):
    layout, dtype = case["layout"], case["dtype"]
    layer = build(adapter, profile, case, 3, eps=EPS, decay=DECAY)
    set_all(layer, rng, case, 3)
    layer.forward(draw.batch(rng, layout, dtype, 4, 3, 3), training=True)
    saved = layer.state()
    fresh = layer.reloaded()
    for key, value in saved.items():
        check.equal(f"{key} after reload", fresh.state()[key], value)
    x = draw.batch(rng, layout, dtype, 5, 3, 3)
    model = reference_model(profile, case, **saved)
    check.close("y in eval after reload", fresh.forward(x, training=False), model.forward(x, training=False))
    fresh.forward(x, training=True)
    model.forward(x, training=True)
    check.close("running_mean after reload and train", fresh.state()["running_mean"], model.running_mean)
    check.close("running_var after reload and train", fresh.state()["running_var"], model.running_var)


@behaviour("bn.defaults.initial_state")
def test_defaults_initial_state(case, adapter, profile, check):
    state = make_layer(adapter, profile, "batchnorm", case["dtype"], layout=case["layout"], channels=4).state()
    for key, value in profile.get("batchnorm.initial").items():
        check.observe(f"initial_{key}", None if state[key] is None else float(np.mean(state[key])))
        check.close(key, state[key], np.full(4, value))


@behaviour("bn.defaults.eps")
def test_defaults_eps(case, adapter, profile, check, rng):
    eps = profile.get("batchnorm.defaults.eps")
    x = small_batch(rng, case, eps)
    layer = make_layer(adapter, profile, "batchnorm", case["dtype"], layout=case["layout"], channels=3)
    y = layer.forward(x, training=True)
    mean, var = ref.batch_moments(x, case["layout"])
    centred = x - mean.reshape(channel_shape(case["layout"], 3))
    big = np.abs(y) > 0.5
    observed = np.median((centred[big] / y[big]) ** 2 - np.broadcast_to(var.reshape(channel_shape(case["layout"], 3)), x.shape)[big])
    check.observe("default_eps", float(observed))
    check.close("y", y, reference_model(profile, case, eps=eps).forward(x, training=True))


@behaviour("bn.defaults.decay")
def test_defaults_decay(case, adapter, profile, check, rng):
    defaults, init = profile.get("batchnorm.defaults"), profile.get("batchnorm.initial")
    # batch means of ~10: the running mean after one step, (1 - decay) mean_B ~ 0.1, is large enough against
    # the float64 tolerance (atol 1e-10) that a layer computing in float32 shows whatever the draw
    x = quantize(10.0 + draw.batch(rng, case["layout"], case["dtype"], 8, 3, 3), case["dtype"])
    layer = make_layer(adapter, profile, "batchnorm", case["dtype"], layout=case["layout"], channels=3)
    layer.forward(x, training=True)
    actual = layer.state()["running_mean"]
    batch_mean = ref.batch_moments(x, case["layout"])[0]
    check.observe("default_decay", float(np.median((actual - batch_mean) / (init["running_mean"] - batch_mean))))
    model = reference_model(profile, case, eps=defaults["eps"], decay=defaults["decay"], fresh=True, **init)
    model.forward(x, training=True)
    check.close("running_mean", actual, model.running_mean)


@behaviour("bn.affine_off")
def test_affine_off(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 5, 4, 3)
    layer = build(adapter, profile, case, 4, eps=EPS, decay=DECAY, affine=False)
    state = layer.state()
    check.true("gamma and beta", state["gamma"] is None and state["beta"] is None,
               f"expected no gamma and beta, found gamma={state['gamma']}, beta={state['beta']}")
    check.close("y", layer.forward(x, training=True), reference_model(profile, case).forward(x, training=True))


@behaviour("bn.no_running_stats")
def test_no_running_stats(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 5, 4, 3)
    layer = build(adapter, profile, case, 4, eps=EPS, decay=DECAY, running_stats=False)
    state = layer.state()
    check.true("running statistics", state["running_mean"] is None and state["running_var"] is None,
               f"expected none, found mean={state['running_mean']}, var={state['running_var']}")
    gamma, beta = set_affine(layer, rng, case, 4)
    model = reference_model(profile, case, gamma=gamma, beta=beta, running_mean=None, running_var=None)
    check.close("y in inference", layer.forward(x, training=False), model.forward(x, training=False))


@behaviour("bn.global_stats")
def test_global_stats(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 5, 3, 3)
    layer = build(adapter, profile, case, 3, eps=EPS, decay=DECAY, global_stats=case["global_stats"])
    s = set_all(layer, rng, case, 3)
    model = reference_model(profile, case, **s)
    if case["global_stats"]:
        check.close("y in training", layer.forward(x, training=True), model.output(x, training=False))
        for key in ("running_mean", "running_var"):
            check.equal(f"{key} after training", layer.state()[key], s[key].astype(layer.state()[key].dtype))
    else:
        check.close("y in inference", layer.forward(x, training=False), model.output(x, training=True))


@behaviour("bn.frozen.parameters")
def test_frozen_parameters(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 5, 3, 3)
    layer = build(adapter, profile, case, 3, eps=EPS, decay=DECAY)
    s = set_all(layer, rng, case, 3)
    layer.freeze()
    layer.sgd_step(x, rng.standard_normal(x.shape), LR, training=True)
    state = layer.state()
    check.equal("gamma after a step", state["gamma"], s["gamma"].astype(state["gamma"].dtype))
    check.equal("beta after a step", state["beta"], s["beta"].astype(state["beta"].dtype))


@behaviour("bn.frozen.statistics")
def test_frozen_statistics(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 5, 3, 3)
    layer = build(adapter, profile, case, 3, eps=EPS, decay=DECAY)
    s = set_all(layer, rng, case, 3)
    layer.freeze()
    y = layer.forward(x, training=True)
    state = layer.state()
    check.observe("frozen_updates_statistics", bool(np.any(state["running_mean"] != s["running_mean"])))
    model = reference_model(profile, case, **s)
    with_running = model.forward(x, training=False)
    with_batch = model.forward(x, training=True)   # the model now holds the statistics a training call leaves
    y64 = np.asarray(y, np.float64)
    nearer_batch = np.abs(y64 - with_batch).max() < np.abs(y64 - with_running).max()
    check.observe("frozen_output", "batch statistics" if nearer_batch else "running statistics")
    if profile.get("batchnorm.frozen.training_updates_statistics"):
        check.close("running_mean", state["running_mean"], model.running_mean)
        check.close("running_var", state["running_var"], model.running_var)
        check.close("y", y, with_batch)
    else:
        check.equal("running_mean", state["running_mean"], s["running_mean"].astype(state["running_mean"].dtype))
        check.equal("running_var", state["running_var"], s["running_var"].astype(state["running_var"].dtype))
        check.close("y", y, with_running)


@behaviour("bn.frozen.fine_tuning")
def test_fine_tuning(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 5, 3, 3)
    dy = rng.standard_normal(x.shape)
    layer = build(adapter, profile, case, 3, eps=EPS, decay=DECAY)
    s = set_all(layer, rng, case, 3)
    layer.freeze()
    dx = layer.sgd_step(x, dy, LR, training=False)
    state = layer.state()
    for key, value in s.items():
        check.equal(f"{key} after the step", state[key], value.astype(state[key].dtype))
    _, expected_dx = reference_model(profile, case, **s).sgd_step(x, dy, LR, training=False, trainable=False)
    check.close("dx", dx, expected_dx)


@behaviour("bn.optimizer.step")
def test_optimizer_step(case, adapter, profile, check, rng):
    layout, training = case["layout"], case["training"]
    x = draw.batch(rng, layout, case["dtype"], 5, 3, 3)
    dy = rng.standard_normal(x.shape)
    layer = build(adapter, profile, case, 3, eps=EPS, decay=DECAY)
    s = set_all(layer, rng, case, 3)
    dx = layer.sgd_step(x, dy, LR, training=training)
    model = reference_model(profile, case, **s)
    _, expected_dx = model.sgd_step(x, dy, LR, training=training)
    state = layer.state()
    check.close("dx", dx, expected_dx)
    check.close("gamma after the step", state["gamma"], model.gamma)
    check.close("beta after the step", state["beta"], model.beta)


def _gradients(case, adapter, profile, check, rng, training):
    layout, dtype = case["layout"], case["dtype"]
    x = draw.batch(rng, layout, dtype, 4, 3, 3)
    dy = quantize(rng.standard_normal(x.shape), dtype)
    layer = build(adapter, profile, case, 3, eps=EPS, decay=DECAY)
    s = set_all(layer, rng, case, 3)
    actual = layer.gradients(x, dy, training=training)
    expected = reference_model(profile, case, **s).backward(x, dy, training)
    for key, value in zip(("x", "gamma", "beta"), expected):
        check.close(f"d{key}", actual[key], value)


@behaviour("bn.grad.train")
def test_grad_train(case, adapter, profile, check, rng):
    _gradients(case, adapter, profile, check, rng, training=True)


@behaviour("bn.grad.eval")
def test_grad_eval(case, adapter, profile, check, rng):
    _gradients(case, adapter, profile, check, rng, training=False)


@behaviour("bn.batch_size_one")
def test_batch_size_one(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 1, 3, 1)
    layer = build(adapter, profile, case, 3, eps=EPS, decay=DECAY)
    gamma, beta = set_affine(layer, rng, case, 3)
    err, y = outcome(layer.forward, x, training=True)
    check.observe("batch_size_one", "error" if err else "identity" if np.array_equal(y, x) else "beta")
    convention = profile.get("batchnorm.batch_size_one")
    if convention == "error":
        check.expect_error(err, f"a training batch of one gave output {y}")
    else:
        check.expect_no_error(err)
        model = reference_model(profile, case, gamma=gamma, beta=beta)
        check.close("y", y, x if convention == "identity" else model.forward(x, training=True))


@behaviour("bn.error.channels")
def test_error_channels(case, adapter, profile, check, rng):
    layer = build(adapter, profile, case, 3, eps=EPS, decay=DECAY)
    x = np.ones(shape_of(case["layout"], 4, 5, 2))
    err, y = outcome(layer.forward, x, training=True)
    check.expect_error(err, f"a 5-channel input to a 3-channel layer gave output of shape {None if y is None else y.shape}")
    check.message_states(err, "3", "5")


def _invalid_argument(case, adapter, profile, check, word, value):
    native = profile.native("batchnorm", **{word: value})
    name = next(iter(native))
    err, layer = outcome(make_layer, adapter, profile, "batchnorm", "float32", layout=case["layout"], channels=3, native=native)
    if err is None:
        err, _ = outcome(layer.forward, np.ones(shape_of(case["layout"], 4, 3, 2)), training=True)
    check.expect_error(err, f"{name}={native[name]} was accepted")
    check.message_states(err, name)


@behaviour("bn.error.eps")
def test_error_eps(case, adapter, profile, check):
    _invalid_argument(case, adapter, profile, check, "eps", -1.0)


@behaviour("bn.error.momentum")
def test_error_momentum(case, adapter, profile, check):
    _invalid_argument(case, adapter, profile, check, "decay", 1.5)
