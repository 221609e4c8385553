"""The training flag and the trainable attribute (specs/behaviours/keras.yaml).

Each test runs one step of a small model (inputs -> nested base holding one BatchNormalization ->
Dense(1) head, mean squared error, SGD) and compares the output or loss, the moving statistics and
every weight with the reference, in the mode the profile's training_flag says the call runs in.
"""
import pytest

from layerconf.reference import batchnorm as ref
from layerconf.reference import head
from layerconf.reference.dtypes import quantize
from . import draw

behaviour = pytest.mark.behaviour
LAYOUT, N, C = "NC", 8, 3
EPS, DECAY, LR = 1e-3, 0.8, 0.1
BN_KEYS = ("running_mean", "running_var", "gamma", "beta")


def training_mode(profile, context: str, flag, trainable: bool) -> bool:
    """Whether BatchNormalization runs in training mode: the flag, or the context's default when the flag
    is omitted or, under fit, overridden (the profile's training_flag.explicit_flag_kept false); unless
    trainable=False forces inference mode."""
    if not trainable and profile.get("training_flag.frozen_batchnorm_inference"):
        return False
    if flag is None or (context == "fit" and not profile.get("training_flag.explicit_flag_kept")):
        return profile.get(f"training_flag.{context}") == "training"
    return flag


def setup(adapter, profile, rng, base_training):
    """A model with non-trivial state, a batch x and targets t."""
    model = adapter.flag_model(C, base_training, LR, **profile.native("batchnorm", eps=EPS, decay=DECAY))
    gamma, beta = draw.affine(rng, C, "float32")
    mean, var = draw.running(rng, C, "float32")
    state = {"running_mean": mean, "running_var": var, "gamma": gamma, "beta": beta,
             "kernel": quantize(rng.uniform(-1, 1, (C, 1)), "float32"), "bias": quantize(rng.uniform(-1, 1, 1), "float32")}
    model.set_state(**state)
    return model, state


def batch(rng):
    return draw.batch(rng, LAYOUT, "float32", N, C), quantize(rng.standard_normal((N, 1)), "float32")


def bn_forward(profile, s, x, training):
    """(y, moving statistics after the call) of the BatchNormalization in the given mode."""
    if not training:
        return ref.inference_forward(x, s["running_mean"], s["running_var"], s["gamma"], s["beta"], EPS, LAYOUT), {}
    y = ref.train_forward(x, s["gamma"], s["beta"], EPS, LAYOUT)[0]
    mean, var = ref.running_statistics([x], LAYOUT, s["running_mean"], s["running_var"],
                                       profile.get("batchnorm.running_var_correction"), DECAY)
    return y, {"running_mean": mean, "running_var": var}


def bn_gradients(s, x, dy, training):
    if training:
        return ref.train_backward(x, s["gamma"], EPS, dy, LAYOUT)
    return ref.inference_backward(x, s["running_mean"], s["running_var"], s["gamma"], EPS, dy, LAYOUT)


def expected_step(profile, s, x, t, training, bn_trainable):
    """(loss, changed state) after one SGD step on mse(head(bn(x)), t), bn in the given mode."""
    h, changed = bn_forward(profile, s, x, training)
    prediction = head.dense(h, s["kernel"], s["bias"])
    dh, dkernel, dbias = head.dense_backward(h, s["kernel"], head.mse_gradient(prediction, t))
    changed.update(kernel=ref.sgd_step(s["kernel"], dkernel, LR), bias=ref.sgd_step(s["bias"], dbias, LR))
    if bn_trainable:
        _, dgamma, dbeta = bn_gradients(s, x, dh, training)
        changed.update(gamma=ref.sgd_step(s["gamma"], dgamma, LR), beta=ref.sgd_step(s["beta"], dbeta, LR))
    return head.mse(prediction, t), changed


def check_state(check, actual, before, changed, when, keys=None):
    """Changed keys match the reference; the others are bit for bit what they were."""
    for key in keys or actual:
        if key in changed:
            check.close(f"{key} {when}", actual[key], changed[key])
        else:
            check.equal(f"{key} {when} (unchanged)", actual[key], before[key].astype(actual[key].dtype))


@behaviour("flag.bn.direct_call")
def test_direct_call(case, adapter, profile, check, rng):
    model, s = setup(adapter, profile, rng, None)
    model.set_trainable("bn", case["trainable"])
    x, _ = batch(rng)
    dy = quantize(rng.standard_normal(x.shape), "float32")
    training = training_mode(profile, "direct_call", case["training"], case["trainable"])
    check.observe("batchnorm_mode", "training" if training else "inference")
    y = model.bn_step(x, dy, LR, case["training"])
    expected_y, changed = bn_forward(profile, s, x, training)
    if case["trainable"]:
        _, dgamma, dbeta = bn_gradients(s, x, dy, training)
        changed.update(gamma=ref.sgd_step(s["gamma"], dgamma, LR), beta=ref.sgd_step(s["beta"], dbeta, LR))
    check.close("y", y, expected_y)
    check_state(check, model.state(), s, changed, "after the step", BN_KEYS)


@behaviour("flag.bn.train_step")
def test_train_step(case, adapter, profile, check, rng):
    model, s = setup(adapter, profile, rng, case["training"])
    model.set_trainable("bn", case["trainable"])
    x, t = batch(rng)
    training = training_mode(profile, "fit", case["training"], case["trainable"])
    check.observe("batchnorm_mode", "training" if training else "inference")
    loss = model.train(x, t, case["method"])
    expected_loss, changed = expected_step(profile, s, x, t, training, case["trainable"])
    check.close("loss", loss, expected_loss, dtype="float32")
    check_state(check, model.state(), s, changed, f"after {case['method']}")


@behaviour("flag.none.predict_evaluate")
def test_predict_evaluate(case, adapter, profile, check, rng):
    model, s = setup(adapter, profile, rng, None)
    x, t = batch(rng)
    y, changed = bn_forward(profile, s, x, training_mode(profile, "predict", None, True))
    check.close("predict", model.predict(x), head.dense(y, s["kernel"], s["bias"]))
    check_state(check, model.state(), s, changed, "after predict")
    held = model.state()
    y, changed = bn_forward(profile, held, x, training_mode(profile, "evaluate", None, True))
    check.close("evaluate", model.evaluate(x, t), head.mse(head.dense(y, held["kernel"], held["bias"]), t), dtype="float32")
    check_state(check, model.state(), held, changed, "after evaluate")


@behaviour("flag.none.nested")
def test_nested(case, adapter, profile, check, rng):
    model, s = setup(adapter, profile, rng, None)   # the base is called without the flag: it inherits
    x, _ = batch(rng)
    training = training_mode(profile, "direct_call", case["training"], True)
    check.observe("batchnorm_mode", "training" if training else "inference")
    y, changed = bn_forward(profile, s, x, training)
    check.close("model(x)", model.call(x, case["training"]), head.dense(y, s["kernel"], s["bias"]))
    check_state(check, model.state(), s, changed, "after the call")


def _fine_tuning(case, adapter, profile, check, rng, base_training):
    """Phase 1: base frozen, one step; phase 2: base unfrozen (recompiled), one step."""
    model, s = setup(adapter, profile, rng, base_training)
    model.set_trainable("base", False)
    x, t = batch(rng)
    loss = model.train(x, t, case["method"])
    expected_loss, changed = expected_step(profile, s, x, t, training_mode(profile, "fit", base_training, False), False)
    check.close("loss while frozen", loss, expected_loss, dtype="float32")
    check_state(check, model.state(), s, changed, "after training frozen")

    model.set_trainable("base", True)
    held = model.state()
    x, t = batch(rng)
    training = training_mode(profile, "fit", base_training, True)
    check.observe("unfrozen_batchnorm_mode", "training" if training else "inference")
    loss = model.train(x, t, case["method"])
    expected_loss, changed = expected_step(profile, held, x, t, training, True)
    check.close("loss once unfrozen", loss, expected_loss, dtype="float32")
    check_state(check, model.state(), held, changed, "after training unfrozen")


@behaviour("flag.fine_tuning.recipe")
def test_fine_tuning_recipe(case, adapter, profile, check, rng):
    _fine_tuning(case, adapter, profile, check, rng, base_training=False)


@behaviour("flag.fine_tuning.forgotten")
def test_fine_tuning_forgotten(case, adapter, profile, check, rng):
    _fine_tuning(case, adapter, profile, check, rng, base_training=None)
