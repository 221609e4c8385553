"""Keras BatchNormalization's variants (specs/behaviours/batchnorm_keras_variants.yaml): batch renormalization,
ghost (virtual) batches, synchronized statistics on one device. Expected values: reference/batchnorm_renorm.py."""
import numpy as np
import pytest

from layerconf.reference import batchnorm as ref
from layerconf.reference.batchnorm_renorm import Renorm, ghost_train_forward
from layerconf.reference.dtypes import parameter_dtype, quantize

from . import draw
from .calls import outcome
from .helpers import DECAY, EPS, set_affine, set_all
from .layers import make_layer

behaviour = pytest.mark.behaviour
# renorm_clipping settings each renorm check runs: none, and bounds the drawn batches cross (r = s_B / S spans
# about [0.3, 2.8] and d about [-4, 4] for batch moments from draw.batch and renorm statistics from draw.running).
CLIPPINGS = ({}, {"rmin": 0.8, "rmax": 1.25, "dmax": 0.25})
RENORM_DECAY = 0.625   # 1 - a exact in float32: tf_keras rounds the update weight to float32 (batchnorm.update_weight_dtype)
VIRTUAL = 4   # virtual batch size; training batches of 2 or 3 virtual batches


def build(adapter, profile, case, channels, **neutral):
    """The case's layer with the variant's neutral arguments, spelt the framework's way by its profile."""
    native = profile.native("batchnorm", eps=EPS, decay=DECAY)
    return make_layer(adapter, profile, "batchnorm_keras", case.params.get("dtype", "float32"), layout=case["layout"],
                        channels=channels, native=native, **neutral)


def renorm_pair(case, adapter, profile, rng, clipping):
    """A renorm layer with drawn gamma, beta and statistics, and the reference model holding the same."""
    layer = build(adapter, profile, case, 3, renorm=True, clipping=dict(clipping), renorm_decay=RENORM_DECAY)
    state = set_all(layer, rng, case, 3)
    p = parameter_dtype(case["dtype"])
    renorm_mean, renorm_var = draw.running(rng, 3, case["dtype"])
    state |= {"renorm_mean": renorm_mean, "renorm_stddev": quantize(np.sqrt(renorm_var), p),
              "moving_stddev": quantize(rng.uniform(0.7, 1.7, 3), p)}
    layer.set_state(**{k: state[k] for k in ("renorm_mean", "renorm_stddev", "moving_stddev")})
    model = Renorm(EPS, DECAY, RENORM_DECAY, case["layout"], clipping, **state)
    return layer, model


def compare_state(check, layer, model, keys, suffix=""):
    actual = layer.state()
    for key in keys:
        check.close(key + suffix, actual[key], model.state()[key])


@behaviour("bn.renorm.train_output")
def test_renorm_train_output(case, adapter, profile, check, rng):
    for clipping in CLIPPINGS:
        layer, model = renorm_pair(case, adapter, profile, rng, clipping)
        x = draw.batch(rng, case["layout"], case["dtype"], 5, 3, 2)
        check.close(f"y{clipping and ' clipped'}", layer.forward(x, training=True), model.forward(x, training=True))


@behaviour("bn.renorm.statistics")
def test_renorm_statistics(case, adapter, profile, check, rng):
    layer, model = renorm_pair(case, adapter, profile, rng, CLIPPINGS[1])
    for step, n in enumerate((5, 3, 8)[: case["steps"]], start=1):
        x = draw.batch(rng, case["layout"], case["dtype"], n, 3, 2)
        layer.forward(x, training=True)
        model.forward(x, training=True)
        compare_state(check, layer, model, ("renorm_mean", "renorm_stddev", "running_mean", "moving_stddev", "running_var"),
                      f" step {step}")


@behaviour("bn.renorm.gradients")
def test_renorm_gradients(case, adapter, profile, check, rng):
    for clipping in CLIPPINGS:
        layer, model = renorm_pair(case, adapter, profile, rng, clipping)
        x = draw.batch(rng, case["layout"], case["dtype"], 5, 3, 2)
        dy = quantize(rng.standard_normal(x.shape), case["dtype"])
        actual = layer.gradients(x, dy, training=True)
        for key, value in zip(("x", "gamma", "beta"), model.gradients(x, dy)):
            check.close(f"d{key}{clipping and ' clipped'}", actual[key], value)


@behaviour("bn.renorm.eval_output")
def test_renorm_eval_output(case, adapter, profile, check, rng):
    layer, model = renorm_pair(case, adapter, profile, rng, CLIPPINGS[1])
    x = draw.batch(rng, case["layout"], case["dtype"], 5, 3, 2)
    before = layer.state()
    check.close("y", layer.forward(x, training=False), model.forward(x, training=False))
    for key, value in layer.state().items():
        if value is not None:
            check.equal(key, value, before[key])


def _ghost_layer(case, adapter, profile, rng):
    layer = build(adapter, profile, case, 3, virtual_batch=VIRTUAL)
    gamma, beta = set_affine(layer, rng, case, 3)
    mean0, var0 = draw.running(rng, 3, case["dtype"])
    layer.set_state(running_mean=mean0, running_var=var0)
    return layer, gamma, beta, mean0, var0


@behaviour("bn.virtual.train_output")
def test_virtual_train_output(case, adapter, profile, check, rng):
    layer, gamma, beta, _, _ = _ghost_layer(case, adapter, profile, rng)
    x = draw.batch(rng, case["layout"], case["dtype"], 3 * VIRTUAL, 3, 2)
    y = layer.forward(x, training=True)
    grouping = profile.get("batchnorm_keras.virtual_batch.grouping")
    expected = {g: ghost_train_forward(x, gamma, beta, EPS, case["layout"], VIRTUAL, g)[0] for g in ("strided", "contiguous")}
    check.observe("virtual_batch_grouping", next((g for g, e in expected.items() if np.allclose(y, e, atol=1e-2)), "neither"))
    check.close("y", y, expected[grouping])


@behaviour("bn.virtual.running")
def test_virtual_running(case, adapter, profile, check, rng):
    layer, gamma, beta, mean, var = _ghost_layer(case, adapter, profile, rng)
    grouping = profile.get("batchnorm_keras.virtual_batch.grouping")
    for step, groups in enumerate((2, 3, 2)[: case["steps"]], start=1):
        x = draw.batch(rng, case["layout"], case["dtype"], groups * VIRTUAL, 3, 2)
        layer.forward(x, training=True)
        _, ghost_mean, ghost_var = ghost_train_forward(x, gamma, beta, EPS, case["layout"], VIRTUAL, grouping)
        mean, var = ref.update_running(mean, ghost_mean, DECAY), ref.update_running(var, ghost_var, DECAY)
        state = layer.state()
        check.close(f"running_mean step {step}", state["running_mean"], mean)
        check.close(f"running_var step {step}", state["running_var"], var)


@behaviour("bn.virtual.eval_output")
def test_virtual_eval_output(case, adapter, profile, check, rng):
    layer, gamma, beta, mean, var = _ghost_layer(case, adapter, profile, rng)
    x = draw.batch(rng, case["layout"], case["dtype"], VIRTUAL + 1, 3, 2)   # not a multiple: inference has no groups
    err, y = outcome(layer.forward, x, training=False)
    check.expect_no_error(err)
    if err is None:
        check.close("y", y, ref.inference_forward(x, mean, var, gamma, beta, EPS, case["layout"]))


@behaviour("bn.virtual.indivisible")
def test_virtual_indivisible(case, adapter, profile, check, rng):
    layer = build(adapter, profile, case, 3, virtual_batch=VIRTUAL)
    x = draw.batch(rng, case["layout"], "float32", VIRTUAL + 1, 3, 2)
    err, y = outcome(layer.forward, x, training=True)
    check.expect_error(err, f"a training batch of {VIRTUAL + 1} with virtual_batch_size={VIRTUAL} gave output of shape "
                            f"{None if y is None else y.shape}")
    check.message_states(err, "virtual_batch_size")


@behaviour("bn.virtual.rejected")
def test_virtual_rejected(case, adapter, profile, check, rng):
    err, _ = outcome(build, adapter, profile, case, 3, virtual_batch=VIRTUAL)
    check.expect_error(err, f"virtual_batch_size={VIRTUAL} was accepted")
    check.message_states(err, "virtual_batch_size")


@behaviour("bn.sync.single_device")
def test_sync_single_device(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 5, 3, 2)
    layer = build(adapter, profile, case, 3, synchronized=True)
    state = set_all(layer, rng, case, 3)
    y, mean, var = ref.train_forward(x, state["gamma"], state["beta"], EPS, case["layout"])
    check.close("y", layer.forward(x, training=True), y)
    mean, var = ref.update_statistics(state["running_mean"], state["running_var"], mean, var,
                                      ref.count_per_channel(x.shape, case["layout"]),
                                      profile.get("batchnorm.running_var_correction"), DECAY)
    check.close("running_mean", layer.state()["running_mean"], mean)
    check.close("running_var", layer.state()["running_var"], var)
    check.close("y inference", layer.forward(x, training=False),
                ref.inference_forward(x, mean, var, state["gamma"], state["beta"], EPS, case["layout"]))


@behaviour("bn.sync.rejected")
def test_sync_rejected(case, adapter, profile, check, rng):
    err, _ = outcome(build, adapter, profile, case, 3, synchronized=True)
    check.expect_error(err, "synchronized=True was accepted")
    check.message_states(err, "synchronized")
