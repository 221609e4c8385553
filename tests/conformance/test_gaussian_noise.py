"""Gaussian noise conformance: y = x + N(0, stddev^2) per element in training, the identity in inference.

The noise z = y - x is tested, never replayed: its variance (chi-square), mean (normal) and distribution
(Kolmogorov-Smirnov), each accepted in its exact region of false alarm 1e-6, with its power recorded.
"""
import numpy as np
import pytest

from layerconf.reference import gaussian_noise as ref
from layerconf.reference import statistics as stats
from layerconf.reference.dtypes import as_dtype, quantize

from . import draw
from .calls import outcome
from .layers import make_layer

behaviour = pytest.mark.behaviour
STAT_ELEMENTS = 300_000   # noise draws per statistical test: power 0.998 against a stddev off by 1% (recorded)


def build(adapter, profile, dtype="float32", **neutral):
    return make_layer(adapter, profile, "gaussian_noise", dtype, **neutral)


def noise(layer, x) -> np.ndarray:
    """z = y - x of one training call, in float64."""
    return np.asarray(layer.forward(x, training=True), dtype=np.float64) - np.asarray(x, dtype=np.float64)


def variance_check(check, z, stddev: float):
    """sum (z / stddev)^2 ~ chi2(n), with the power against a standard deviation 1% off recorded."""
    check.observe("noise_variance_ratio", float(np.mean(z**2)) / stddev**2)
    check.variance("sum (z / stddev)^2", z, stddev, {f"stddev x{r}": r**2 for r in (0.99, 1.01)}, f"(n = {z.size}, stddev = {stddev})")


@behaviour("gn.eval.identity")
def test_eval_identity(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (16, 32), case["dtype"], 0.0, 100.0)
    layer = build(adapter, profile, case["dtype"], stddev=case["stddev"])
    check.equal("y", layer.forward(x, training=False), as_dtype(x, case["dtype"]))


@behaviour("gn.train.variance")
def test_train_variance(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (STAT_ELEMENTS // 100, 100), case["dtype"])
    variance_check(check, noise(build(adapter, profile, case["dtype"], stddev=case["stddev"]), x), case["stddev"])


@behaviour("gn.train.mean")
def test_train_mean(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (STAT_ELEMENTS // 100, 100), "float32")
    stddev, region = case["stddev"], ref.normal_region()
    z = noise(build(adapter, profile, stddev=stddev), x)
    shift = 0.02 * np.sqrt(z.size)   # a mean of 0.02 stddev shifts the statistic by 0.02 sqrt(n)
    check.within("sum z / (stddev sqrt n)", ref.mean_statistic(z, stddev), region,
                 {"mean 0.02 stddev": ref.normal_power(region, shift)}, f"(n = {z.size}, stddev = {stddev})")


@behaviour("gn.train.normal")
def test_train_normal(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (STAT_ELEMENTS // 100, 100), "float32")
    stddev = case["stddev"]
    z = noise(build(adapter, profile, stddev=stddev), x)
    region = stats.ks_region(z.size)
    check.within("Kolmogorov-Smirnov D_n", ref.ks_statistic(z, stddev), region,
                 {"uniform noise of that variance (lower bound)": ref.ks_power_uniform(z.size, region)}, f"(n = {z.size})")


@behaviour("gn.train.per_element")
def test_train_per_element(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (8, 16, 32), "float32")
    z = noise(build(adapter, profile, stddev=case["stddev"]), x)
    constant = [a for a in range(z.ndim) if np.all(np.diff(z, axis=a) == 0, axis=a).any()]
    check.observe("noise_per_element", not constant)
    check.true("one draw per element", not constant, f"the noise is constant along axis {constant} of {z.shape}")


@behaviour("gn.train.fresh_noise")
def test_train_fresh_noise(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (64, 64), "float32")
    layer = build(adapter, profile, stddev=case["stddev"])
    first, second = (noise(layer, x) for _ in range(2))
    check.true("noise", not np.array_equal(first, second), f"two calls drew the same noise for {x.size} elements")


@behaviour("gn.stddev.zero")
def test_stddev_zero(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (32, 32), case["dtype"])
    y = build(adapter, profile, case["dtype"], stddev=0.0).forward(x, training=True)
    check.equal("y", y, as_dtype(x, case["dtype"]))


@behaviour("gn.stddev.above_one")
def test_stddev_above_one(case, adapter, profile, check, rng):
    stddev = case["stddev"]
    x = draw.nonzero(rng, (STAT_ELEMENTS // 100, 100), "float32")
    err, z = outcome(lambda: noise(build(adapter, profile, stddev=stddev), x))
    check.observe("noise_stddev_above_one", "error" if err else "noise")
    if profile.get("gaussian_noise.stddev_above_one") == "error":
        check.expect_error(err, f"stddev {stddev} was accepted")
        check.message_states(err, str(stddev))
    else:
        check.expect_no_error(err)
        if err is None:
            variance_check(check, z, stddev)


@behaviour("gn.error.stddev")
def test_error_stddev(case, adapter, profile, check, rng):
    stddev = case["stddev"]
    err, _ = outcome(lambda: build(adapter, profile, stddev=stddev).forward(draw.nonzero(rng, (4, 4)), training=True))
    check.expect_error(err, f"stddev {stddev} was accepted")
    check.message_states(err, str(stddev))


@behaviour("gn.seed.reproducible")
def test_seed_reproducible(case, adapter, profile, check, rng):
    """Seed scope layer: the seed alone fixes the noise; global: with the global generator reseeded before each build."""
    x = draw.nonzero(rng, (64, 64), "float32")
    per_layer = [noise(build(adapter, profile, stddev=case["stddev"], seed=1234), x) for _ in range(2)]
    check.observe("noise_seed_per_layer", bool(np.array_equal(*per_layer)))
    reseed = profile.get("gaussian_noise.seed_scope") == "global"
    first, again, other = (_seeded_noise(adapter, profile, case["stddev"], s, x, reseed) for s in (1234, 1234, 4321))
    check.equal("noise of two layers with seed 1234" + (" after reseeding" if reseed else ""), again, first)
    check.true("noise of seed 4321", not np.array_equal(first, other), "seeds 1234 and 4321 drew the same noise")


def _seeded_noise(adapter, profile, stddev, seed, x, reseed: bool):
    if reseed:
        adapter.seed(0)
    return noise(build(adapter, profile, stddev=stddev, seed=seed), x)


@behaviour("gn.grad")
def test_grad(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (32, 64), case["dtype"])
    dy = quantize(rng.standard_normal(x.shape), case["dtype"])
    y, dx = build(adapter, profile, case["dtype"], stddev=case["stddev"]).forward_and_grad(x, dy, training=True)
    check.true("noise added", not np.array_equal(np.asarray(y), as_dtype(x, case["dtype"])), "the training call added no noise")
    check.close("dx", dx, ref.gradient(dy), dtype=case["dtype"])
