"""The training flag and the trainable attribute (specs/behaviours/keras.yaml).

Each test runs one step of a small model (inputs -> nested base holding one BatchNormalization ->
Dense(1) head, mean squared error, SGD) and compares the output or loss, the moving statistics and
every weight with the reference, in the mode the profile's training_flag says the call runs in.
"""
import numpy as np
import pytest

from layerconf.reference.dtypes import quantize
from layerconf.reference.models import BatchNorm, FlagModel
from layerconf.reference.training_flag import TrainingFlag

from . import draw
from .helpers import conventions

behaviour = pytest.mark.behaviour
LAYOUT, N, C = "NC", 8, 3
EPS, DECAY, LR = 1e-3, 0.8, 0.1
BN_KEYS = ("running_mean", "running_var", "gamma", "beta")


def setup(adapter, profile, rng, base_training):
    """A model with non-trivial state, a batch x and targets t."""
    model = adapter.flag_model(C, base_training, LR, **profile.native("batchnorm", eps=EPS, decay=DECAY))
    state = draw.head_model(rng, C)
    model.set_state(**state)
    return model, state


def batch(rng):
    return draw.batch(rng, LAYOUT, "float32", N, C), quantize(rng.standard_normal((N, 1)), "float32")


def reference_bn(profile, s):
    """The reference BatchNorm holding the state ``s``, under the profile's conventions."""
    return BatchNorm(EPS, DECAY, LAYOUT, conventions(profile), **{key: s[key] for key in BN_KEYS})


def reference(profile, s):
    """The reference model (BatchNorm -> Dense(1) head) holding the state ``s``."""
    return FlagModel(reference_bn(profile, s), s["kernel"], s["bias"])


def check_state(check, actual, before, expected, when, keys=None):
    """What the reference changed matches it; what it left as it was is bit for bit what it was."""
    for key in keys or actual:
        if np.array_equal(expected[key], before[key]):
            check.equal(f"{key} {when} (unchanged)", actual[key], before[key].astype(actual[key].dtype))
        else:
            check.close(f"{key} {when}", actual[key], expected[key])


@behaviour("flag.bn.direct_call")
def test_direct_call(case, adapter, profile, check, rng):
    model, s = setup(adapter, profile, rng, None)
    model.set_trainable("bn", case["trainable"])
    x, _ = batch(rng)
    dy = quantize(rng.standard_normal(x.shape), "float32")
    training = TrainingFlag.of(profile).training("direct_call", case["training"], case["trainable"])
    check.observe("batchnorm_mode", "training" if training else "inference")
    y = model.bn_step(x, dy, LR, case["training"])
    expected = reference_bn(profile, s)
    expected_y, _ = expected.sgd_step(x, dy, LR, training, case["trainable"])
    check.close("y", y, expected_y)
    check_state(check, model.state(), s, expected.state(), "after the step", BN_KEYS)


@behaviour("flag.bn.train_step")
def test_train_step(case, adapter, profile, check, rng):
    model, s = setup(adapter, profile, rng, case["training"])
    model.set_trainable("bn", case["trainable"])
    x, t = batch(rng)
    training = TrainingFlag.of(profile).training("fit", case["training"], case["trainable"])
    check.observe("batchnorm_mode", "training" if training else "inference")
    loss = model.train(x, t, case["method"])
    expected = reference(profile, s)
    check.close("loss", loss, expected.sgd_step(x, t, LR, training, case["trainable"]), dtype="float32")
    check_state(check, model.state(), s, expected.state(), f"after {case['method']}")


@behaviour("flag.none.predict_evaluate")
def test_predict_evaluate(case, adapter, profile, check, rng):
    model, s = setup(adapter, profile, rng, None)
    x, t = batch(rng)
    expected, rule = reference(profile, s), TrainingFlag.of(profile)
    check.close("predict", model.predict(x), expected.forward(x, rule.training("predict", None)))
    check_state(check, model.state(), s, expected.state(), "after predict")
    held = model.state()
    expected = reference(profile, held)
    check.close("evaluate", model.evaluate(x, t), expected.loss(x, t, rule.training("evaluate", None)), dtype="float32")
    check_state(check, model.state(), held, expected.state(), "after evaluate")


@behaviour("flag.none.nested")
def test_nested(case, adapter, profile, check, rng):
    model, s = setup(adapter, profile, rng, None)   # the base is called without the flag: it inherits
    x, _ = batch(rng)
    training = TrainingFlag.of(profile).training("direct_call", case["training"])
    check.observe("batchnorm_mode", "training" if training else "inference")
    expected = reference(profile, s)
    check.close("model(x)", model.call(x, case["training"]), expected.forward(x, training))
    check_state(check, model.state(), s, expected.state(), "after the call")


def _fine_tuning(case, adapter, profile, check, rng, base_training):
    """Phase 1: base frozen, one step; phase 2: base unfrozen (recompiled), one step."""
    model, s = setup(adapter, profile, rng, base_training)
    model.set_trainable("base", False)
    x, t = batch(rng)
    loss = model.train(x, t, case["method"])
    expected = reference(profile, s)
    expected_loss = expected.sgd_step(x, t, LR, TrainingFlag.of(profile).training("fit", base_training, False), bn_trainable=False)
    check.close("loss while frozen", loss, expected_loss, dtype="float32")
    check_state(check, model.state(), s, expected.state(), "after training frozen")

    model.set_trainable("base", True)
    held = model.state()
    x, t = batch(rng)
    training = TrainingFlag.of(profile).training("fit", base_training)
    check.observe("unfrozen_batchnorm_mode", "training" if training else "inference")
    loss = model.train(x, t, case["method"])
    expected = reference(profile, held)
    check.close("loss once unfrozen", loss, expected.sgd_step(x, t, LR, training), dtype="float32")
    check_state(check, model.state(), held, expected.state(), "after training unfrozen")


@behaviour("flag.fine_tuning.recipe")
def test_fine_tuning_recipe(case, adapter, profile, check, rng):
    _fine_tuning(case, adapter, profile, check, rng, base_training=False)


@behaviour("flag.fine_tuning.forgotten")
def test_fine_tuning_forgotten(case, adapter, profile, check, rng):
    _fine_tuning(case, adapter, profile, check, rng, base_training=None)
