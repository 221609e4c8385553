"""Layers inside models (specs/behaviours/models.yaml, issue 24).

Each test builds the framework's nested model (x -> base: BatchNorm -> Dropout in the case's container -> Dense(1)
head) through ``adapter.layer("models", ...)``, gives it non-trivial state, sets modes the framework's way and
compares features, predictions, losses and every state entry with reference.nested under the profile's conventions.
A Dropout mask is the framework's draw: read from the features (a zero is a drop) and tested by the exact binomial
test (false alarm 1e-6, power recorded) where the rate is under test.
"""
import numpy as np
import pytest

from layerconf.reference import statistics as stats
from layerconf.reference.dtypes import quantize
from layerconf.reference.models import BatchNorm
from layerconf.reference.nested import NestedModel, keep_mask

from . import draw
from .helpers import conventions
from .layers import make_layer

behaviour = pytest.mark.behaviour
C, N, N_STAT = 4, 16, 4096         # features; batch of a step; batch of the mode test (N_STAT C Dropout draws)
EPS, DECAY, RATE, LR = 2.0**-10, 0.75, 0.5, 0.25
BN_KEYS = ("running_mean", "running_var", "gamma", "beta")
STAT_KEYS = ("running_mean", "running_var")


def setup(adapter, profile, rng, kind="sequential"):
    """The case's nested model holding non-trivial state; returns (model, state)."""
    native = {"batchnorm": profile.native("batchnorm", eps=EPS, decay=DECAY), "dropout": profile.native("dropout", rate=RATE)}
    model = make_layer(adapter, profile, "models", "float32", kind=kind, channels=C, native=native)
    state = draw.head_model(rng, C)
    model.set_state(**state)
    return model, state


def reference(profile, s, base_training, frozen=False):
    """reference.nested.NestedModel holding the state ``s``, its base in the given mode (and frozen, under the
    profile's models.frozen_means_inference)."""
    bn = BatchNorm(EPS, DECAY, "NC", conventions(profile), **{key: s[key] for key in BN_KEYS})
    return NestedModel(bn, RATE, s["kernel"], s["bias"], base_training, frozen,
                       bool(profile.get("models.frozen_means_inference", False)))


def batch(rng, n=N):
    return draw.batch(rng, "NC", "float32", n, C), quantize(rng.standard_normal((n, 1)), "float32")


def check_state(check, actual, before, expected, when, keys=None):
    """What the reference changed matches it; what it left as it was is bit for bit what it was."""
    for key in keys or expected:
        if np.array_equal(expected[key], before[key]):
            check.equal(f"{key} {when} (unchanged)", actual[key], np.asarray(before[key]).astype(actual[key].dtype))
        else:
            check.close(f"{key} {when}", actual[key], expected[key])


def moved(after, before) -> bool:
    return not all(np.array_equal(after[k], np.asarray(before[k]).astype(after[k].dtype)) for k in STAT_KEYS)


def drop_check(check, features):
    """The zeros of the features against Binomial(n, RATE) (exact central region, false alarm 1e-6)."""
    dropped, n = int(np.count_nonzero(~keep_mask(features))), int(np.size(features))
    check.observe("models_drop_fraction", dropped / n)
    check.rate("dropped features", dropped, n, RATE, stats.shifted(RATE, 0.02))


@behaviour("models.mode.propagation")
def test_mode_propagation(case, adapter, profile, check, rng):
    training = case["training"]
    model, s = setup(adapter, profile, rng, case["kind"])
    x, _ = batch(rng, N_STAT)
    model.set_mode(not training)   # the other mode first: the call under test must switch every nested layer
    model.set_mode(training)
    h, p = model.run(x)
    after = model.state()
    check.observe("models_batchnorm_mode", "training" if moved(after, s) else "inference")
    check.observe("models_dropout_mode", "training" if not keep_mask(h).all() else "inference")
    expected = reference(profile, s, training)
    eh, ep = expected.forward(x, keep_mask(h) if training else None)
    check.close("features", h, eh)
    check.close("prediction", p, ep)
    check_state(check, after, s, expected.state(), "after the call")
    if training:
        drop_check(check, h)
    else:
        h2, p2 = model.run(x)
        check.equal("features of a second inference call", h2, h)
        check.equal("prediction of a second inference call", p2, p)


@behaviour("models.state.running")
def test_state_running(case, adapter, profile, check, rng):
    model, s = setup(adapter, profile, rng, case["kind"])
    check.observe("models_state_names", {key: model.state_names()[key] for key in STAT_KEYS})
    expected = reference(profile, s, True)
    model.set_mode(True)
    trajectory, reference_trajectory = [float(s["running_mean"][0])], [float(s["running_mean"][0])]
    for step in range(case["steps"]):
        x, _ = batch(rng)
        h, _ = model.run(x)
        expected.forward(x, keep_mask(h))
        state = model.state()
        trajectory.append(float(state["running_mean"][0]))
        reference_trajectory.append(float(expected.bn.running_mean[0]))
        for key in STAT_KEYS:
            check.close(f"{key} after training call {step + 1}", state[key], expected.state()[key])
    check.observe("models_running_mean_trajectory", trajectory)
    held = model.state()
    model.set_mode(False)
    expected.base_training = False
    for call in range(2):
        x, _ = batch(rng)
        h, p = model.run(x)
        eh, ep = expected.forward(x)
        check.close(f"features of inference call {call + 1}", h, eh)
        check_state(check, model.state(), held, held, f"after inference call {call + 1}")


@behaviour("models.state.save_load")
def test_save_load(case, adapter, profile, check, rng):
    model, s = setup(adapter, profile, rng, case["kind"])
    model.set_mode(True)
    for _ in range(2):
        model.run(batch(rng)[0])
    held = model.state()
    fresh = model.reloaded()
    check_state(check, fresh.state(), held, held, "after save and load")
    fresh.set_mode(False)
    x, _ = batch(rng)
    h, p = fresh.run(x)
    eh, ep = reference(profile, held, False).forward(x)
    check.close("reloaded features", h, eh)
    check.close("reloaded prediction", p, ep)


def recipe(adapter, profile, rng):
    """The fine-tuning recipe: the base frozen the framework's way, the model in training, the base in inference."""
    model, s = setup(adapter, profile, rng)
    model.freeze_base()
    model.set_mode(True)
    model.set_mode(False, "base")
    return model, s


def step_check(check, profile, model, s, rng, base_training, when):
    """One sgd_step against the reference with a frozen base in ``base_training`` mode; returns the state after."""
    x, t = batch(rng)
    h, loss = model.sgd_step(x, t, LR)
    expected = reference(profile, s, base_training, frozen=True)
    expected_loss = expected.sgd_step(x, t, LR, keep_mask(h) if base_training else None, base_trainable=False)
    check.close(f"loss {when}", np.float64(loss), expected_loss, dtype="float32")
    after = model.state()
    check_state(check, after, s, expected.state(), when)
    return after


@behaviour("models.fine_tuning.recipe")
def test_fine_tuning_recipe(case, adapter, profile, check, rng):
    model, s = recipe(adapter, profile, rng)
    after = step_check(check, profile, model, s, rng, False, "after a step of the recipe")
    check.observe("models_recipe_statistics", "moved" if moved(after, s) else "kept")


@behaviour("models.fine_tuning.pitfall")
def test_fine_tuning_pitfall(case, adapter, profile, check, rng):
    model, s = recipe(adapter, profile, rng)
    model.pitfall()
    base_training = profile.get("models.pitfall.base_mode") == "training"
    after = step_check(check, profile, model, s, rng, base_training, "after a step following the mistake")
    check.observe("models_pitfall_base_mode", "training" if moved(after, s) else "inference")
    check.observe("models_pitfall_mean_shift", float(np.max(np.abs(after["running_mean"] - s["running_mean"]))))


@behaviour("models.optimizer.trainable_only")
def test_optimizer_trainable_only(case, adapter, profile, check, rng):
    model, s = setup(adapter, profile, rng, case["kind"])
    model.freeze_base()
    model.set_mode(True)
    base_training = profile.get("models.frozen_base_mode") == "training"
    after = step_check(check, profile, model, s, rng, base_training, "after a step with the base frozen")
    check.observe("models_frozen_base_mode", "training" if moved(after, s) else "inference")
