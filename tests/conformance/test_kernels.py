"""Kernels other than the default (specs/behaviours/kernels.yaml): the default path's checks of BatchNorm, Dropout
and RReLU run again with the layer built for the case's ``kernel`` (the profile's ``<layer>.kernels`` entry: channels_last
memory format, inplace=True, fused=False), against the same reference and tolerances. An in-place kernel
(``writes_input``) must also leave its output in its caller's input, as documented; any other kernel must leave the
input as it was."""
import numpy as np
import pytest

from layerconf.reference import dropout as ref
from layerconf.reference import rrelu as rrelu_ref
from layerconf.reference.dtypes import as_dtype, quantize
from layerconf.reference.layout import channel_axis, shape_of

from . import draw
from .helpers import DECAY, EPS, reference_model, set_affine, set_all, trajectory
from .layers import make_layer
from .test_dropout import _alpha_mask, _channel_flags, _channel_mask
from .test_rrelu import drawn_slopes, mean_slope, negative, uniform_check

behaviour = pytest.mark.behaviour
STAT_ELEMENTS = 200_000   # as test_dropout: power > 0.99 against a rate off by 0.01 (recorded per check)


def _layer(adapter, profile, case, section, **neutral):
    return make_layer(adapter, profile, section, case.params.get("dtype", "float32"), layout=case.params.get("layout"),
                      kind=case.params.get("kind"), kernel=case["kernel"], **neutral)


def _input_check(check, profile, case, section, layer, x, y, observe=True):
    """An in-place kernel (profile ``<section>.kernels.<kernel>.writes_input``) leaves y in its caller's input; any
    other leaves the input as it was. The observation (``observe``: a call whose y differs from x) says which the
    framework did."""
    after = np.asarray(layer.input_after())
    writes = bool(profile.get(f"{section}.kernels.{case['kernel']}.writes_input"))
    before = np.asarray(x).astype(after.dtype)
    if observe:
        check.observe("input_overwritten", bool(not np.array_equal(after, before)))
    check.equal("the caller's input after the call", after, np.asarray(y) if writes else before)


# BatchNorm

def _bn(adapter, profile, case, channels, **neutral):
    return _layer(adapter, profile, case, "batchnorm", channels=channels, eps=EPS, **neutral)


@behaviour("bn.kernel.train.output")
def test_bn_train_output(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 5, 4, 3)
    layer = _bn(adapter, profile, case, 4, decay=DECAY)
    gamma, beta = set_affine(layer, rng, case, 4)
    check.close("y", layer.forward(x, training=True), reference_model(profile, case, gamma=gamma, beta=beta).forward(x, training=True))


@behaviour("bn.kernel.eval.output")
def test_bn_eval_output(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 5, 4, 3)
    layer = _bn(adapter, profile, case, 4, decay=DECAY)
    s = set_all(layer, rng, case, 4)
    before = layer.state()
    check.close("y", layer.forward(x, training=False), reference_model(profile, case, **s).forward(x, training=False))
    after = layer.state()
    for key, value in before.items():
        check.equal(f"{key} after inference", after[key], value)


@behaviour("bn.kernel.running_stats")
def test_bn_running_stats(case, adapter, profile, check, rng):
    layer = _bn(adapter, profile, case, 3, decay=case["decay"])
    mean0, var0 = draw.running(rng, 3, case["dtype"])
    layer.set_state(running_mean=mean0, running_var=var0)
    batches = [draw.batch(rng, case["layout"], case["dtype"], n, 3, 3) for n in (3, 5, 8, 2, 4)[: case["steps"]]]
    states = trajectory(layer, batches)
    expected = trajectory(reference_model(profile, case, decay=case["decay"], running_mean=mean0, running_var=var0), batches)
    for step, (state, want) in enumerate(zip(states, expected), start=1):
        for key in ("running_mean", "running_var"):
            check.close(f"{key} (step {step})", state[key], want[key])


@behaviour("bn.kernel.grad")
def test_bn_grad(case, adapter, profile, check, rng):
    x = draw.batch(rng, case["layout"], case["dtype"], 4, 3, 3)
    dy = quantize(rng.standard_normal(x.shape), case["dtype"])
    layer = _bn(adapter, profile, case, 3, decay=DECAY)
    s = set_all(layer, rng, case, 3)
    actual = layer.gradients(x, dy, training=case["training"])
    expected = reference_model(profile, case, **s).backward(x, dy, case["training"])
    for key, value in zip(("x", "gamma", "beta"), expected):
        check.close(f"d{key}", actual[key], value)


# Dropout: inputs of the case's layout (8 samples, 6 channels, 4 per spatial axis); kind element drops elements, channel
# whole channels, alpha and channel_alpha are alpha dropout per element or per channel.

def _dropout_input(rng, case, dtype, n=8, c=6, s=4):
    return draw.nonzero(rng, shape_of(case["layout"], n, c, s), dtype)


def _kept(y, case):
    """The keep mask of a dropout output (y != 0), and for kind channel whether every channel is whole."""
    kept = np.asarray(y).astype(np.float64) != 0
    if case["kind"] != "channel":
        return kept, True
    return kept, _channel_mask(y, case["layout"])[1]


@behaviour("do.kernel.eval.identity")
def test_do_eval_identity(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, shape_of(case["layout"], 8, 6, 4), case["dtype"], 0.0, 100.0)
    layer = _layer(adapter, profile, case, "dropout", rate=0.5)
    y = layer.forward(x, training=False)
    check.equal("y", y, as_dtype(x, case["dtype"]))
    _input_check(check, profile, case, "dropout", layer, x, y, observe=False)


@behaviour("do.kernel.train.values")
def test_do_train_values(case, adapter, profile, check, rng):
    x = _dropout_input(rng, case, case["dtype"])
    layer = _layer(adapter, profile, case, "dropout", rate=case["rate"])
    y = layer.forward(x, training=True)
    kept, whole = _kept(y, case)
    check.true("whole channels", whole, f"some channel along axis {channel_axis(case['layout'])} of {case['layout']} is partly dropped")
    check.close("y", y, ref.output(x, kept, case["rate"]), dtype=case["dtype"])
    _input_check(check, profile, case, "dropout", layer, x, y)


@behaviour("do.kernel.train.rate")
def test_do_train_rate(case, adapter, profile, check, rng):
    per = STAT_ELEMENTS // 100
    n = per if case["kind"] == "channel" else STAT_ELEMENTS // (100 * 2 ** (len(case["layout"]) - 2))
    x = draw.nonzero(rng, shape_of(case["layout"], n, 100, 2), "float32")   # 200,000 (sample, channel) pairs or elements
    y = _layer(adapter, profile, case, "dropout", rate=case["rate"]).forward(x, training=True)
    if case["kind"] == "channel":
        keep, _ = _channel_mask(y, case["layout"])
        check.rate("dropped channels", int(np.count_nonzero(~keep)), keep.size, case["rate"], observe="drop")
    else:
        check.rate("dropped elements", int(np.count_nonzero(np.asarray(y) == 0)), np.asarray(y).size, case["rate"], observe="drop")


@behaviour("do.kernel.grad")
def test_do_grad(case, adapter, profile, check, rng):
    x = _dropout_input(rng, case, case["dtype"])
    dy = quantize(rng.standard_normal(x.shape), case["dtype"])
    y, dx = _layer(adapter, profile, case, "dropout", rate=case["rate"]).forward_and_grad(x, dy)
    kept, _ = _kept(y, case)
    check.close("dx", dx, ref.output(dy, kept, case["rate"]), dtype=case["dtype"])


@behaviour("do.kernel.alpha.values")
def test_do_alpha_values(case, adapter, profile, check, rng):
    x = quantize(rng.uniform(0.5, 2, shape_of(case["layout"], 8, 6, 4)), case["dtype"])
    layer = _layer(adapter, profile, case, "dropout", rate=case["rate"])
    y = layer.forward(x, training=True)
    kept = _alpha_mask(x, y, case["rate"])
    if case["kind"] == "channel_alpha":
        check.true("whole channels", _channel_flags(kept, case["layout"])[1],
                   f"some channel along axis {channel_axis(case['layout'])} of {case['layout']} is partly dropped")
    check.close("y", y, ref.alpha_output(x, kept, case["rate"]), dtype=case["dtype"])
    _input_check(check, profile, case, "dropout", layer, x, y)


# RReLU

def _rrelu(adapter, profile, case):
    return _layer(adapter, profile, case, "rrelu", lower=case["lower"], upper=case["upper"])


@behaviour("rrelu.kernel.eval.values")
def test_rrelu_eval_values(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (64, 64), case["dtype"])
    layer = _rrelu(adapter, profile, case)
    y = layer.forward(x, training=False)
    check.close("y", y, rrelu_ref.output(x, mean_slope(profile, case["lower"], case["upper"])), dtype=case["dtype"])
    _input_check(check, profile, case, "rrelu", layer, x, y)


@behaviour("rrelu.kernel.train.values")
def test_rrelu_train_values(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (64, 64), case["dtype"])
    layer = _rrelu(adapter, profile, case)
    y = layer.forward(x, training=True)
    lower, upper = rrelu_ref.bounds(case["lower"], case["upper"], profile.get("rrelu.arguments_dtype", "float64"))
    check.close("y", y, rrelu_ref.output(x, np.clip(drawn_slopes(x, y), lower, upper)), dtype=case["dtype"])
    _input_check(check, profile, case, "rrelu", layer, x, y)
    x = negative(rng, (1000, 100))
    uniform_check(check, x, layer.forward(x, training=True), case["lower"], case["upper"])


@behaviour("rrelu.kernel.grad")
def test_rrelu_grad(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (32, 64), case["dtype"])
    dy = quantize(rng.standard_normal(x.shape), case["dtype"])
    y, dx = _rrelu(adapter, profile, case).forward_and_grad(x, dy, training=case["training"])
    slopes = drawn_slopes(x, y) if case["training"] else mean_slope(profile, case["lower"], case["upper"])
    check.close("dx", dx, rrelu_ref.grad(x, dy, slopes), dtype=case["dtype"])
