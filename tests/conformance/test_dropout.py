"""Dropout conformance: invariants and exact statistical tests, never one RNG stream reproduced.

Statistical tests accept a count inside its exact central region of probability 1 - 1e-6
(reference.statistics.FALSE_ALARM) and record their power against a shifted rate.
"""
import numpy as np
import pytest

from layerconf.reference import dropout as ref
from layerconf.reference.dtypes import as_dtype, quantize
from layerconf.reference.layout import channel_axis, shape_of

from . import draw
from .calls import outcome
from .layers import make_layer

behaviour = pytest.mark.behaviour
STAT_ELEMENTS = 200_000   # elements per rate test: power > 0.99 against a rate off by 0.01 (recorded per check)
STAT_CHANNELS = 200_000   # (sample, channel) pairs per spatial rate test: the same power


def build(adapter, profile, case, variant="element", layout="NC", **neutral):
    dtype = case.params.get("dtype", "float32")
    return make_layer(adapter, profile, "dropout", dtype, layout=layout, kind=variant, **neutral)


@behaviour("do.eval.identity")
def test_eval_identity(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (16, 32), case["dtype"], 0.0, 100.0)
    layer = build(adapter, profile, case, rate=case["rate"])
    check.equal("y", layer.forward(x, training=False), as_dtype(x, case["dtype"]))


@behaviour("do.train.values")
def test_train_values(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (64, 64), case["dtype"])
    y = np.asarray(build(adapter, profile, case, rate=case["rate"]).forward(x, training=True)).astype(np.float64)
    kept = y != 0
    check.observe("dropout_scale", float(np.median(y[kept] / x[kept])) if kept.any() else None)
    check.close("y", y, ref.output(x, kept, case["rate"]), dtype=case["dtype"])


@behaviour("do.train.rate")
def test_train_rate(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (STAT_ELEMENTS // 100, 100), "float32")
    y = build(adapter, profile, case, rate=case["rate"]).forward(x, training=True)
    check.rate("dropped elements", int(np.count_nonzero(y == 0)), x.size, case["rate"], observe="drop")


@behaviour("do.train.fresh_mask")
def test_fresh_mask(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (64, 64), "float32")
    layer = build(adapter, profile, case, rate=case["rate"])
    first, second = (layer.forward(x, training=True) != 0 for _ in range(2))
    check.true("masks", not np.array_equal(first, second),
               f"two calls drew the same mask of {x.size} elements (probability {(case['rate']**2 + (1 - case['rate'])**2)}^{x.size})")


@behaviour("do.rate.zero")
def test_rate_zero(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (32, 32), case["dtype"])
    check.equal("y", build(adapter, profile, case, rate=0.0).forward(x, training=True), as_dtype(x, case["dtype"]))


@behaviour("do.rate.one")
def test_rate_one(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (32, 32), case["dtype"])
    err, y = outcome(lambda: build(adapter, profile, case, rate=1.0).forward(x, training=True))
    check.observe("rate_one", "error" if err else _rate_one_values(np.asarray(y, dtype=np.float64)))
    if profile.get("dropout.rate_one") == "error":
        check.expect_error(err, "rate 1 was accepted")
    else:
        check.expect_no_error(err)
        if err is None:
            check.close("y", y, np.zeros_like(x))


def _rate_one_values(y) -> str:
    if np.isnan(y).any():
        return "NaN"
    return "zeros" if not y.any() else "other values"


@behaviour("do.error.rate")
def test_error_rate(case, adapter, profile, check, rng):
    rate = case["rate"]
    err, _ = outcome(lambda: build(adapter, profile, case, rate=rate).forward(draw.nonzero(rng, (4, 4)), training=True))
    check.expect_error(err, f"rate {rate} was accepted")
    check.message_states(err, str(rate))


@behaviour("do.seed.reproducible")
def test_seed_reproducible(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (64, 64), "float32")
    layer = build(adapter, profile, case, rate=case["rate"])
    masks = []
    for _ in range(2):
        adapter.seed(1234)
        masks.append(layer.forward(x, training=True) != 0)
    check.equal("mask after reseeding", masks[1], masks[0])


@behaviour("do.grad")
def test_grad(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (32, 64), case["dtype"])
    dy = quantize(rng.standard_normal(x.shape), case["dtype"])
    y, dx = build(adapter, profile, case, rate=case["rate"]).forward_and_grad(x, dy)
    kept = np.asarray(y).astype(np.float64) != 0
    check.close("dx", dx, ref.output(dy, kept, case["rate"]), dtype=case["dtype"])


def _channel_flags(kept, layout):
    """Per-(sample, channel) keep flags of an element mask, and whether each channel is wholly kept or wholly dropped."""
    c = channel_axis(layout)
    moved = np.moveaxis(kept, c, 1).reshape(kept.shape[0], kept.shape[c], -1)
    return moved.all(axis=2), bool(np.all(moved.all(axis=2) | ~moved.any(axis=2)))


def _channel_mask(y, layout):
    """``_channel_flags`` of the elements y keeps (y != 0)."""
    return _channel_flags(np.asarray(y).astype(np.float64) != 0, layout)


@behaviour("do.spatial.whole_channels")
def test_spatial_whole_channels(case, adapter, profile, check, rng):
    layout, rate = case["layout"], case["rate"]
    x = draw.nonzero(rng, shape_of(layout, 8, 6, 4), "float32")
    y = build(adapter, profile, case, "channel", layout, rate=rate).forward(x, training=True)
    keep, whole = _channel_mask(y, layout)
    check.true("whole channels", whole, f"some channel along axis {channel_axis(layout)} of {layout} is partly dropped")
    check.close("y", y, ref.output(x, keep.reshape(ref.mask_shape(x.shape, "channel", layout)), rate), dtype="float32")


@behaviour("do.spatial.fresh_mask")
def test_spatial_fresh_mask(case, adapter, profile, check, rng):
    layout, rate = case["layout"], case["rate"]
    x = draw.nonzero(rng, shape_of(layout, 32, 32, 2), "float32")
    layer = build(adapter, profile, case, "channel", layout, rate=rate)
    first, second = (_channel_mask(layer.forward(x, training=True), layout)[0] for _ in range(2))
    check.true("channel masks", not np.array_equal(first, second), f"two calls drew the same mask of {first.size} "
               f"(sample, channel) pairs (probability {rate**2 + (1 - rate)**2}^{first.size})")


@behaviour("do.spatial.rate")
def test_spatial_rate(case, adapter, profile, check, rng):
    layout = case["layout"]
    x = draw.nonzero(rng, shape_of(layout, STAT_CHANNELS // 100, 100, 2), "float32")
    y = build(adapter, profile, case, "channel", layout, rate=case["rate"]).forward(x, training=True)
    keep, _ = _channel_mask(y, layout)
    check.rate("dropped channels", int(np.count_nonzero(~keep)), keep.size, case["rate"], observe="drop")


def _alpha_mask(x, y, rate):
    """Kept where y is nearer the kept value a x + b than the dropped value b - a alpha' (x in [0.5, 2] keeps
    them apart)."""
    y = np.asarray(y).astype(np.float64)
    return np.abs(y - ref.alpha_output(x, 1, rate)) < np.abs(y - ref.alpha_output(x, 0, rate))


@behaviour("do.alpha.values")
def test_alpha_values(case, adapter, profile, check, rng):
    x = quantize(rng.uniform(0.5, 2, (64, 64)), case["dtype"])
    y = build(adapter, profile, case, "alpha", rate=case["rate"]).forward(x, training=True)
    check.close("y", y, ref.alpha_output(x, _alpha_mask(x, y, case["rate"]), case["rate"]), dtype=case["dtype"])


@behaviour("do.alpha.rate")
def test_alpha_rate(case, adapter, profile, check, rng):
    x = quantize(rng.uniform(0.5, 2, (STAT_ELEMENTS // 100, 100)), "float32")
    y = build(adapter, profile, case, "alpha", rate=case["rate"]).forward(x, training=True)
    check.rate("dropped elements", int(np.count_nonzero(~_alpha_mask(x, y, case["rate"]))), x.size, case["rate"],
               observe="drop")


@behaviour("do.alpha.channels")
def test_alpha_channels(case, adapter, profile, check, rng):
    layout, rate = case["layout"], case["rate"]
    x = quantize(rng.uniform(0.5, 2, shape_of(layout, 8, 6, 4)), "float32")
    y = build(adapter, profile, case, "channel_alpha", layout, rate=rate).forward(x, training=True)
    kept = _alpha_mask(x, y, rate)
    check.true("whole channels", _channel_flags(kept, layout)[1],
               f"some channel along axis {channel_axis(layout)} of {layout} is partly dropped")
    check.close("y", y, ref.alpha_output(x, kept, rate), dtype="float32")


@behaviour("do.noise_shape")
def test_noise_shape(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (16, 8, 12), "float32")
    y = build(adapter, profile, case, rate=case["rate"], noise_shape=(16, 1, 12)).forward(x, training=True)
    kept = np.asarray(y) != 0
    check.true("broadcast", bool(np.all(kept == kept[:, :1, :])), "the mask varies along axis 1, where noise_shape is 1")
    check.close("y", y, ref.output(x, kept, case["rate"]), dtype="float32")


@behaviour("do.gaussian.variance")
def test_gaussian_variance(case, adapter, profile, check, rng):
    rate = case["rate"]
    x = draw.nonzero(rng, (STAT_ELEMENTS // 100, 100), "float32")
    layer = build(adapter, profile, case, "gaussian", rate=rate)
    check.equal("y in inference", layer.forward(x, training=False), as_dtype(x, "float32"))
    z = np.asarray(layer.forward(x, training=True), dtype=np.float64) / x - 1.0
    sigma = ref.gaussian_stddev(rate)
    check.observe("gaussian_variance", float(np.mean(z**2)))
    check.variance("sum (z / sigma)^2", z, sigma, {f"variance x{r}": r for r in (0.98, 1.02)}, f"(n = {z.size}, sigma = {sigma:.6f})")


@behaviour("do.downscale.eval")
def test_downscale_eval(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (16, 32), case["dtype"], 0.0, 100.0)
    layer = build(adapter, profile, case, rate=case["rate"], scaling="inference")
    check.close("y", layer.forward(x, training=False), ref.downscaled_output(x, 1, case["rate"], training=False),
                dtype=case["dtype"])


@behaviour("do.downscale.train")
def test_downscale_train(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (64, 64), case["dtype"])
    y = np.asarray(build(adapter, profile, case, rate=case["rate"], scaling="inference").forward(x, training=True))
    kept = y.astype(np.float64) != 0
    check.close("y", y, ref.downscaled_output(x, kept, case["rate"], training=True), dtype=case["dtype"])


@behaviour("do.downscale.grad")
def test_downscale_grad(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (32, 64), case["dtype"])
    dy = quantize(rng.standard_normal(x.shape), case["dtype"])
    y, dx = build(adapter, profile, case, rate=case["rate"], scaling="inference").forward_and_grad(x, dy)
    kept = np.asarray(y).astype(np.float64) != 0
    check.close("dx", dx, ref.downscaled_output(dy, kept, case["rate"], training=True), dtype=case["dtype"])


@behaviour("do.gaussian.eval_identity")
def test_gaussian_eval_identity(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (16, 32), case["dtype"], 0.0, 100.0)
    layer = build(adapter, profile, case, "gaussian", rate=case["rate"])
    check.equal("y", layer.forward(x, training=False), as_dtype(x, case["dtype"]))
