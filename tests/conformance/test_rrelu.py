"""RReLU conformance: the inference and training outputs, the training slopes' distribution (exact
Kolmogorov-Smirnov test, false alarm at most 1e-6, power recorded), fresh and seeded draws, gradients in both
modes, the defaults and what invalid bounds do. Slopes are read back as a = y / x on negative inputs: the test
never replays a random stream."""
import numpy as np
import pytest

from layerconf.reference import rrelu as ref
from layerconf.reference.dtypes import quantize

from . import draw
from .calls import outcome
from .layers import make_layer

behaviour = pytest.mark.behaviour
STAT_SLOPES = 100_000   # slopes per KS test: c = 0.0085; power 1 against the range shifted by 0.01 or narrowed by 10% (recorded)


def build(adapter, profile, case, **bounds):
    return make_layer(adapter, profile, "rrelu", case.params.get("dtype", "float64"), **bounds)


def bounds(case) -> dict:
    return {"lower": case["lower"], "upper": case["upper"]}


def arithmetic(profile) -> str:
    """The dtype the framework holds the bounds in (profile rrelu.arguments_dtype; float64 by default)."""
    return profile.get("rrelu.arguments_dtype", "float64")


def mean_slope(profile, lower, upper) -> float:
    return ref.mean_slope(lower, upper, arithmetic(profile))


def negative(rng, shape, dtype="float64"):
    """x < 0 everywhere, |x| in [0.5, 2]: every element draws a slope."""
    return quantize(-rng.uniform(0.5, 2.0, shape), dtype)


def drawn_slopes(x, y) -> np.ndarray:
    """a = y / x, in float64."""
    return np.asarray(y).astype(np.float64) / np.asarray(x, dtype=np.float64)


def uniform_check(check, x, y, lower, upper):
    """KS test of the slopes of all-negative x against U(lower, upper); power against the range shifted by 0.01
    and narrowed by 10% at each end (a lower bound, reference.statistics.ks_uniform_power)."""
    a = drawn_slopes(x, y).ravel()
    width = upper - lower
    alternatives = {"shifted+0.01": (lower + 0.01, upper + 0.01), "narrowed10%": (lower + 0.1 * width, upper - 0.1 * width)}
    check.observe("rrelu_slope_range", [float(a.min()), float(a.max())])
    check.uniform("KS statistic of the training slopes", a, lower, upper, alternatives,
                  f"(n = {a.size} slopes against U({lower}, {upper}); observed range [{a.min():.5f}, {a.max():.5f}])")


def inference_slope(x, y) -> float:
    return float(np.median(drawn_slopes(x, y)[np.asarray(x) < 0]))


@behaviour("rrelu.eval.values")
def test_eval_values(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (64, 64), case["dtype"])
    y = build(adapter, profile, case, **bounds(case)).forward(x, training=False)
    check.observe("rrelu_inference_slope", inference_slope(x, y))
    check.close("y", y, ref.output(x, mean_slope(profile, case["lower"], case["upper"])), dtype=case["dtype"])


@behaviour("rrelu.train.values")
def test_train_values(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (64, 64), case["dtype"])
    y = build(adapter, profile, case, **bounds(case)).forward(x, training=True)
    lower, upper = ref.bounds(case["lower"], case["upper"], arithmetic(profile))
    slopes = np.clip(drawn_slopes(x, y), lower, upper)   # rounding of y only; a slope out of range: y differs
    check.close("y", y, ref.output(x, slopes), dtype=case["dtype"])


@behaviour("rrelu.train.uniform")
def test_train_uniform(case, adapter, profile, check, rng):
    x = negative(rng, (STAT_SLOPES // 100, 100))
    y = build(adapter, profile, case, **bounds(case)).forward(x, training=True)
    uniform_check(check, x, y, case["lower"], case["upper"])


@behaviour("rrelu.train.fresh")
def test_train_fresh(case, adapter, profile, check, rng):
    x = negative(rng, (64, 64))
    layer = build(adapter, profile, case, **bounds(case))
    first, second = (layer.forward(x, training=True) for _ in range(2))
    check.true("slopes", not np.array_equal(first, second), f"two calls drew the same {x.size} slopes")


@behaviour("rrelu.seed.reproducible")
def test_seed_reproducible(case, adapter, profile, check, rng):
    x = negative(rng, (64, 64))
    layer = build(adapter, profile, case, **bounds(case))
    ys = []
    for _ in range(2):
        adapter.seed(1234)
        ys.append(layer.forward(x, training=True))
    check.equal("y after reseeding", ys[1], ys[0])


@behaviour("rrelu.grad.train")
def test_grad_train(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (32, 64), case["dtype"])
    dy = quantize(rng.standard_normal(x.shape), case["dtype"])
    y, dx = build(adapter, profile, case, **bounds(case)).forward_and_grad(x, dy, training=True)
    check.close("dx", dx, ref.grad(x, dy, drawn_slopes(x, y)), dtype=case["dtype"])


@behaviour("rrelu.grad.eval")
def test_grad_eval(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (32, 64), case["dtype"])
    dy = quantize(rng.standard_normal(x.shape), case["dtype"])
    _, dx = build(adapter, profile, case, **bounds(case)).forward_and_grad(x, dy, training=False)
    check.close("dx", dx, ref.grad(x, dy, mean_slope(profile, case["lower"], case["upper"])), dtype=case["dtype"])


@behaviour("rrelu.defaults")
def test_defaults(case, adapter, profile, check, rng):
    lower, upper = profile.get("rrelu.defaults.lower"), profile.get("rrelu.defaults.upper")
    layer = build(adapter, profile, case)
    x = draw.nonzero(rng, (64, 64), case["dtype"])
    y = layer.forward(x, training=False)
    check.observe("rrelu_inference_slope", inference_slope(x, y))
    check.close("inference y", y, ref.output(x, mean_slope(profile, lower, upper)), dtype=case["dtype"])
    x = negative(rng, (STAT_SLOPES // 100, 100))
    uniform_check(check, x, layer.forward(x, training=True), lower, upper)


@behaviour("rrelu.bounds.invalid")
def test_bounds_invalid(case, adapter, profile, check, rng):
    lower, upper = ref.INVALID_BOUNDS[case["bounds"]]
    x = negative(rng, (64, 64))
    err, y = outcome(lambda: build(adapter, profile, case, lower=lower, upper=upper).forward(x, training=True))
    check.observe("rrelu_invalid_bounds", f"error ({type(err).__name__})" if err else "accepted")
    if err is None and lower <= upper:
        a = drawn_slopes(x, y)
        check.true("slopes in [lower, upper]", bool(np.all((a >= lower - 1e-12) & (a <= upper + 1e-12))),
                   f"accepted lower={lower}, upper={upper} but drew slopes in [{a.min():.5f}, {a.max():.5f}]")
