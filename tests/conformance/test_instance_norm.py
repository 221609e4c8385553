"""InstanceNorm conformance (specs/behaviours/instance_norm.yaml): instance statistics in training, and in inference
without running statistics; the running statistics' update (instance moments averaged over the batch, unbiased
variance) and their use in inference; defaults; gradients of x; the error on one spatial entry."""
import numpy as np
import pytest

from layerconf.reference import instance_norm as ref
from layerconf.reference.dtypes import quantize
from layerconf.reference.layout import channel_axis, shape_of

from . import draw
from .calls import outcome
from .layers import make_layer

behaviour = pytest.mark.behaviour
EPS = 2.0**-10      # exact in float32
DECAY = 0.75


def build(adapter, profile, case, channels=3, **neutral):
    return make_layer(adapter, profile, "instance_norm", case.params.get("dtype", "float64"), layout=case["layout"],
                      channels=channels, **neutral)


def tracks(profile) -> bool:
    """Whether the flavour's layer can keep running statistics."""
    return profile.has("instance_norm.running_var_correction")


def sample(rng, case, n=4, channels=3, spatial=5, dtype=None):
    """x_nc = offset_nc + scale_nc z_nc, offset in [-2, 2], scale in [0.5, 2], z standardised per instance (mean 0,
    biased std 1): the instance statistics are the drawn offset and scale, never ill-conditioned."""
    layout = case["layout"]
    x = rng.standard_normal(shape_of(layout, n, channels, spatial))
    spatial_axes = tuple(a for a in range(1, x.ndim) if a != channel_axis(layout))
    std = x.std(axis=spatial_axes, keepdims=True)
    z = (x - x.mean(axis=spatial_axes, keepdims=True)) / np.where(std > 0, std, 1.0)   # one entry: z = 0
    per_instance = [n if a == 0 else channels if a == channel_axis(layout) else 1 for a in range(x.ndim)]
    x = rng.uniform(-2, 2, per_instance) + rng.uniform(0.5, 2, per_instance) * z
    return quantize(x, dtype or case.params.get("dtype", "float64"))


def affine_layer(adapter, profile, case, rng, **neutral):
    """A layer with affine parameters set to drawn gamma, beta; returns (layer, gamma, beta)."""
    layer = build(adapter, profile, case, eps=EPS, affine=True, **neutral)
    gamma, beta = draw.affine(rng, 3, case.params.get("dtype", "float64"))
    layer.set_state(gamma=gamma, beta=beta)
    return layer, gamma, beta


@behaviour("instance_norm.train.values")
def test_train_values(case, adapter, profile, check, rng):
    for running in ([False, True] if tracks(profile) else [False]):
        extra = {"running_stats": True, "decay": DECAY} if running else {}
        layer, gamma, beta = affine_layer(adapter, profile, case, rng, **extra)
        x = sample(rng, case)
        check.close(f"y (running statistics {'on' if running else 'off'})", layer.forward(x, training=True),
                    ref.train_forward(x, gamma, beta, EPS, case["layout"]), dtype=case["dtype"])


@behaviour("instance_norm.train.running_stats")
def test_train_running_stats(case, adapter, profile, check, rng):
    layout = case["layout"]
    layer = build(adapter, profile, case, eps=EPS, decay=DECAY, running_stats=True)
    mean0, var0 = draw.running(rng, 3, case["dtype"])
    layer.set_state(running_mean=mean0, running_var=var0)
    model = ref.InstanceNorm(EPS, DECAY, layout, np.ones(3), np.zeros(3), mean0, var0)
    for step, n in enumerate((3, 5, 2)[: case["steps"]], start=1):
        x = sample(rng, case, n=n)
        check.close(f"y (step {step})", layer.forward(x, training=True), model.forward(x, training=True))
        state = layer.state()
        if step == 1:
            var_n = ref.instance_moments(x, layout)[1].mean(axis=0)
            check.observe("instance_norm_var_factor", float((state["running_var"][0] - DECAY * var0[0])
                                                            / ((1 - DECAY) * var_n[0])))
            check.observe("instance_norm_spatial_size", ref.spatial_size(x, layout))
        check.close(f"running_mean (step {step})", state["running_mean"], model.running_mean)
        check.close(f"running_var (step {step})", state["running_var"], model.running_var)


@behaviour("instance_norm.eval.running_stats")
def test_eval_running_stats(case, adapter, profile, check, rng):
    layer, gamma, beta = affine_layer(adapter, profile, case, rng, decay=DECAY, running_stats=True)
    mean, var = draw.running(rng, 3, case["dtype"])
    layer.set_state(running_mean=mean, running_var=var)
    x = sample(rng, case)
    check.close("y", layer.forward(x, training=False), ref.inference_forward(x, mean, var, gamma, beta, EPS,
                                                                             case["layout"]), dtype=case["dtype"])
    after = layer.state()
    check.equal("running_mean", after["running_mean"], mean)
    check.equal("running_var", after["running_var"], var)


@behaviour("instance_norm.eval.instance_stats")
def test_eval_instance_stats(case, adapter, profile, check, rng):
    layer, gamma, beta = affine_layer(adapter, profile, case, rng, **({"running_stats": False} if tracks(profile) else {}))
    x = sample(rng, case)
    check.close("y", layer.forward(x, training=False), ref.train_forward(x, gamma, beta, EPS, case["layout"]),
                dtype=case["dtype"])
    state = layer.state()
    check.true("no running statistics", state.get("running_mean") is None and state.get("running_var") is None,
               f"the layer holds running statistics {state.get('running_mean')}, {state.get('running_var')}")


@behaviour("instance_norm.defaults")
def test_defaults(case, adapter, profile, check, rng):
    defaults, layout = profile.get("instance_norm.defaults"), case["layout"]
    layer = build(adapter, profile, case)
    x = sample(rng, case)
    running = defaults.get("running_stats", False)
    for training in (True, False):
        if training or not running:
            check.close(f"y ({'training' if training else 'inference'})", layer.forward(x, training=training),
                        ref.train_forward(x, np.ones(3), np.zeros(3), defaults["eps"], layout))
    state = layer.state()
    check.true("affine", (state.get("gamma") is not None) == defaults["affine"], f"gamma is {state.get('gamma')}")
    check.true("running statistics", (state.get("running_mean") is not None) == running,
               f"running_mean is {state.get('running_mean')}")
    if "decay" in defaults and tracks(profile):
        layer = build(adapter, profile, case, running_stats=True)
        layer.forward(x, training=True)
        initial = profile.get("instance_norm.initial")
        mean, var = ref.update(initial["running_mean"], initial["running_var"], x, defaults["decay"], layout)
        state = layer.state()
        check.close("running_mean (default momentum)", state["running_mean"], mean)
        check.close("running_var (default momentum)", state["running_var"], var)


@behaviour("instance_norm.grad.train")
def test_grad_train(case, adapter, profile, check, rng):
    layer, gamma, _ = affine_layer(adapter, profile, case, rng, **({"running_stats": True} if tracks(profile) else {}))
    x, dy = sample(rng, case), quantize(rng.standard_normal(sample(rng, case).shape), case["dtype"])
    _, dx = layer.forward_and_grad(x, dy, training=True)
    check.close("dx", dx, ref.train_backward(x, gamma, EPS, dy, case["layout"]))


@behaviour("instance_norm.grad.eval")
def test_grad_eval(case, adapter, profile, check, rng):
    layer, gamma, _ = affine_layer(adapter, profile, case, rng, running_stats=True)
    mean, var = draw.running(rng, 3, case["dtype"])
    layer.set_state(running_mean=mean, running_var=var)
    x, dy = sample(rng, case), quantize(rng.standard_normal(sample(rng, case).shape), case["dtype"])
    _, dx = layer.forward_and_grad(x, dy, training=False)
    check.close("dx", dx, ref.inference_backward(x, mean, var, gamma, EPS, dy, case["layout"]))


@behaviour("instance_norm.errors.spatial_one")
def test_spatial_one(case, adapter, profile, check, rng):
    layer = build(adapter, profile, case, eps=EPS)
    err, y = outcome(layer.forward, sample(rng, case, spatial=1), training=True)
    check.expect_error(err, f"instances of one entry gave output {y}")
    check.message_states(err, "spatial")
