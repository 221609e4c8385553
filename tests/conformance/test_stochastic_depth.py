"""Stochastic depth conformance: inverted dropout of whole rows (mode row) or of the whole input (mode batch).

Drop counts are tested by the exact binomial test (reference.statistics, false alarm 1e-6), with the power
against a shifted rate recorded; masks are read from the output (inputs have no zero element).
"""
import numpy as np
import pytest

from layerconf.reference import statistics as stats
from layerconf.reference import stochastic_depth as ref
from layerconf.reference.dtypes import as_dtype, quantize

from . import draw
from .calls import outcome
from .layers import make_layer

behaviour = pytest.mark.behaviour
STAT_ROWS = 200_000   # rows per row-mode rate test: power > 0.99 against a rate off by 0.01 (recorded)
STAT_CALLS = 20_000   # calls per batch-mode rate test: power > 0.99 against a rate off by 0.03 (recorded)


def build(adapter, profile, dtype="float32", **neutral):
    return make_layer(adapter, profile, "stochastic_depth", dtype, **neutral)


def _mask_kind(kept: np.ndarray, whole_rows: bool) -> str:
    """element (rows partly zeroed), input (every row alike: one draw per call; for mode row, with 64 rows, a chance
    below (1 - p)^64 + p^64) or row."""
    if not whole_rows:
        return "element"
    return "input" if kept.all() or not kept.any() else "row"


@behaviour("sd.eval.identity")
def test_eval_identity(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (16, 4, 8), case["dtype"], 0.0, 100.0)
    layer = build(adapter, profile, case["dtype"], rate=case["rate"], mode=case["mode"])
    check.equal("y", layer.forward(x, training=False), as_dtype(x, case["dtype"]))


@behaviour("sd.train.values")
def test_train_values(case, adapter, profile, check, rng):
    mode, rate = case["mode"], case["rate"]
    x = draw.nonzero(rng, (64, 4, 8), case["dtype"])
    y = np.asarray(build(adapter, profile, case["dtype"], rate=rate, mode=mode).forward(x, training=True)).astype(np.float64)
    kept, whole_rows = ref.row_keep(y)
    if kept.any():
        check.observe("depth_scale", float(np.median(y[kept] / x[kept])))
    check.observe("depth_mask", _mask_kind(kept, whole_rows))
    check.true("whole rows", whole_rows, "some row is partly zeroed")
    if mode == "batch":
        check.true("whole input", bool(kept.all() or not kept.any()), f"mode batch zeroed {np.count_nonzero(~kept)} of {len(kept)} rows")
    keep = kept.reshape(ref.mask_shape(x.shape, "row"))
    check.close("y", y, ref.output(x, keep, rate), dtype=case["dtype"])


@behaviour("sd.train.rate_rows")
def test_train_rate_rows(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (STAT_ROWS, 2), "float32")
    y = build(adapter, profile, rate=case["rate"], mode="row").forward(x, training=True)
    kept, _ = ref.row_keep(y)
    check.rate("zeroed rows", int(np.count_nonzero(~kept)), kept.size, case["rate"], observe="depth_drop")


@behaviour("sd.train.rate_calls")
def test_train_rate_calls(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (2, 3), "float32")
    layer = build(adapter, profile, rate=case["rate"], mode="batch")
    zeroed = sum(not np.asarray(layer.forward(x, training=True)).any() for _ in range(STAT_CALLS))
    check.rate("zeroing calls", int(zeroed), STAT_CALLS, case["rate"], stats.shifted(case["rate"], 0.03), observe="depth_drop")


@behaviour("sd.train.fresh_mask")
def test_fresh_mask(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (4096, 2), "float32")
    layer = build(adapter, profile, rate=case["rate"], mode="row")
    first, second = (ref.row_keep(layer.forward(x, training=True))[0] for _ in range(2))
    rate = case["rate"]
    check.true("row masks", not np.array_equal(first, second),
               f"two calls drew the same mask of {first.size} rows (probability {rate**2 + (1 - rate)**2}^{first.size})")


@behaviour("sd.rate.zero")
def test_rate_zero(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (32, 8), "float32")
    check.equal("y", build(adapter, profile, rate=0.0, mode=case["mode"]).forward(x, training=True), as_dtype(x, "float32"))


@behaviour("sd.rate.one")
def test_rate_one(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (32, 8), "float32")
    err, y = outcome(lambda: build(adapter, profile, rate=1.0, mode=case["mode"]).forward(x, training=True))
    check.expect_no_error(err)
    if err is None:
        check.equal("y", np.asarray(y, dtype=np.float64), ref.output(x, 0, 1.0))


@behaviour("sd.error.rate")
def test_error_rate(case, adapter, profile, check, rng):
    rate = case["rate"]
    err, _ = outcome(lambda: build(adapter, profile, rate=rate, mode="row").forward(draw.nonzero(rng, (4, 4)), training=True))
    check.expect_error(err, f"rate {rate} was accepted")
    check.message_states(err, str(rate))


@behaviour("sd.error.mode")
def test_error_mode(case, adapter, profile, check, rng):
    mode = case["mode"]
    err, _ = outcome(lambda: build(adapter, profile, rate=0.5, mode=mode).forward(draw.nonzero(rng, (4, 4)), training=True))
    check.expect_error(err, f"mode {mode!r} was accepted")
    check.message_states(err, mode)


@behaviour("sd.grad")
def test_grad(case, adapter, profile, check, rng):
    mode, rate = case["mode"], case["rate"]
    x = draw.nonzero(rng, (64, 8), case["dtype"])
    dy = quantize(rng.standard_normal(x.shape), case["dtype"])
    layer = build(adapter, profile, case["dtype"], rate=rate, mode=mode)
    y, dx = layer.forward_and_grad(x, dy, training=True)
    kept, _ = ref.row_keep(y)
    check.close("dx", dx, ref.gradient(dy, kept.reshape(ref.mask_shape(x.shape, "row")), rate), dtype=case["dtype"])
