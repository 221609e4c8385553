"""Multi-head attention conformance: the output against reference/attention.py from the layer's own projection
weights, and the dropout of its attention weights exposed through the output (``exposing_value``).

A check draws every projection, sets it through the layer's state and reads it back (the layer's own weights, as
it holds them). Statistical tests accept a count inside its exact central region of probability 1 - 1e-6
(reference.statistics.FALSE_ALARM) and record their power against a rate off by 0.01.
"""
import math

import numpy as np
import pytest

from layerconf.reference import attention as ref
from layerconf.reference.dtypes import quantize

from .layers import make_layer

behaviour = pytest.mark.behaviour
HEADS, KEYS = 2, 7            # H heads; S keys, so that D = S + 1 = 8 and E = H D = 16 (exposing_value)
EMBED = HEADS * (KEYS + 1)
STAT_DRAWS = 200_704          # distinct dropout draws per rate test: power > 0.99 against a rate off by 0.01
AXES = {"batch": 0, "heads": 1}


def build(adapter, profile, case, rng, rate=None, dtype="float32"):
    """The layer with random projections (|w| ~ 1 / sqrt(E)), and its state as it holds them."""
    rate = case.params.get("rate", 0.0) if rate is None else rate
    layer = make_layer(adapter, profile, "attention", case.params.get("dtype", dtype), sizes={"embed": EMBED, "heads": HEADS},
                         rate=rate)
    d = EMBED // HEADS
    shapes = {"q_kernel": (EMBED, HEADS, d), "k_kernel": (EMBED, HEADS, d), "v_kernel": (EMBED, HEADS, d),
              "q_bias": (HEADS, d), "k_bias": (HEADS, d), "v_bias": (HEADS, d), "o_kernel": (HEADS, d, EMBED), "o_bias": (EMBED,)}
    layer.set_state(**{k: rng.standard_normal(s) / math.sqrt(EMBED) for k, s in shapes.items()})
    return layer


def inputs(rng, n, length, dtype="float32"):
    return (quantize(rng.standard_normal((n, length, EMBED)), dtype), quantize(rng.standard_normal((n, KEYS, EMBED)), dtype),
            quantize(rng.standard_normal((n, KEYS, EMBED)), dtype))


def exposed(layer, rng, n, length, training=True, weights=False):
    """Run the layer on random query and key with ``exposing_value``: (its state, query, key, value, y, the
    weights it returns or None, the keep mask y shows (N, H, L, S))."""
    q, k, _ = inputs(rng, n, length)
    value, identity = ref.exposing_value(n, KEYS, HEADS)
    layer.set_state(**identity)
    params = layer.state()
    y, w = layer.attend(q, k, value, training, weights)
    return params, q, k, value, y, w, ref.shown_weights(y, HEADS) != 0


def _mask_structure(check, keep, shared):
    """The keep mask is constant along each shared axis and varies along the other axes (batch, heads)."""
    check.observe("attention_mask_shared", [name for name, axis in AXES.items()
                                            if np.all(keep == np.take(keep, [0], axis=axis))])
    for name, axis in AXES.items():
        constant = bool(np.all(keep == np.take(keep, [0], axis=axis)))
        if name in shared:
            check.true(f"mask shared along {name}", constant, f"the dropout mask varies along the {name} axis")
        else:
            check.true(f"mask drawn per {name}", not constant, f"every {name} entry has the same dropout mask "
                       f"(independent draws coincide with probability < 2^-{keep[0, 0].size})")


@behaviour("attn.eval.reference")
def test_eval_reference(case, adapter, profile, check, rng):
    layer = build(adapter, profile, case, rng)
    q, k, v = inputs(rng, 4, 5, case["dtype"])
    first, _ = layer.attend(q, k, v, training=False)
    second, _ = layer.attend(q, k, v, training=False)
    check.equal("y of a second call", second, first)
    check.close("y", first, ref.attention(q, k, v, layer.state()), dtype=case["dtype"])


@behaviour("attn.train.values")
def test_train_values(case, adapter, profile, check, rng):
    rate = case["rate"]
    layer = build(adapter, profile, case, rng)
    params, q, k, value, y, _, keep = exposed(layer, rng, 4, 64)
    check.observe("attention_dropout_scale", float(np.median(ref.shown_weights(y, HEADS)[keep] / ref.weights(q, k, params)[keep])))
    check.close("y", y, ref.attention(q, k, value, params, keep, rate), dtype="float32")
    _mask_structure(check, keep, profile.get("attention.mask_shared"))


@behaviour("attn.train.rate")
def test_train_rate(case, adapter, profile, check, rng):
    shared = profile.get("attention.mask_shared")
    n = 2
    per_query = KEYS * math.prod(size for name, size in (("batch", n), ("heads", HEADS)) if name not in shared)
    layer = build(adapter, profile, case, rng)
    *_, keep = exposed(layer, rng, n, STAT_DRAWS // per_query)
    for name in shared:
        keep = np.take(keep, [0], axis=AXES[name])
    check.rate("dropped attention weights", int(np.count_nonzero(~keep)), keep.size, case["rate"], observe="drop")


@behaviour("attn.rate.zero")
def test_rate_zero(case, adapter, profile, check, rng):
    layer = build(adapter, profile, case, rng, rate=0.0)
    q, k, v = inputs(rng, 4, 5)
    train, _ = layer.attend(q, k, v, training=True)
    check.close("y in training", train, ref.attention(q, k, v, layer.state()), dtype="float32")
    check.close("y in training vs inference", train, layer.attend(q, k, v, training=False)[0], dtype="float32")


@behaviour("attn.weights.returned")
def test_returned_weights(case, adapter, profile, check, rng):
    rate = case["rate"]
    layer = build(adapter, profile, case, rng)
    params, q, k, value, y, w, keep = exposed(layer, rng, 4, 64, weights=True)
    a = ref.weights(q, k, params)
    post = ref.dropped(a, keep, rate)
    w = np.asarray(w, np.float64)
    seen = [name for name, weights in (("post_dropout", post), ("pre_dropout", a)) if np.allclose(w, weights, 1e-4, 1e-6)]
    check.observe("attention_returned_weights", (seen or ["other"])[0])
    check.close("y in training", y, ref.attention(q, k, value, params, keep, rate), dtype="float32")
    check.close("weights in training", w, post if profile.get("attention.returned_weights") == "post_dropout" else a, dtype="float32")
    y, w = layer.attend(q, k, value, training=False, weights=True)
    check.close("weights in inference", w, a, dtype="float32")
    check.close("y in inference", y, ref.output(a, value, params), dtype="float32")


@behaviour("attn.eval.fast_path")
def test_eval_fast_path(case, adapter, profile, check, rng):
    layer = build(adapter, profile, case, rng)
    x, _, _ = inputs(rng, 4, 5, case["dtype"])
    fast = layer.attend_fast(x)
    general, _ = layer.attend(x, x, x, training=False)
    check.observe("attention_fast_path_difference", float(np.max(np.abs(np.asarray(fast, np.float64) - general))))
    check.close("y on the fast path", fast, ref.attention(x, x, x, layer.state()), dtype=case["dtype"])
    check.close("y on the general path", general, ref.attention(x, x, x, layer.state()), dtype=case["dtype"])


@behaviour("attn.encoder.fast_path")
def test_encoder_fast_path(case, adapter, profile, check, rng):
    layer = build(adapter, profile, case, rng, rate=0.5)
    x, _, _ = inputs(rng, 4, 5, case["dtype"])
    general = layer.encoder(x, "general")
    fast = layer.encoder(x, "fast")
    check.observe("encoder_fast_path_difference", float(np.max(np.abs(np.asarray(fast, np.float64) - general))))
    check.close("encoder on the fast path vs the general path", fast, general, dtype=case["dtype"])
    check.close("encoder in training with rate 0 vs inference", layer.encoder(x, "train"), general, dtype=case["dtype"])
