"""Recurrent dropout conformance: inference against the float64 recurrence, training masks read back.

Training checks build layers whose masks are recoverable: unit j reads only feature j (diagonal kernels, features =
units), and only through the candidate gate (rnn: its one gate, lstm g, gru n); the other gates are constants set by
their biases. Each dropped or kept entry then gives a different output, so ``decode`` reads the mask back step by
step from the reference, and the whole output is compared with the reference under that mask (values and scale
1 / (1 - p)). Statistical tests accept a count in its exact central region of probability 1 - 1e-6
(reference.statistics.FALSE_ALARM) and record their power.
"""
import numpy as np
import pytest

from layerconf.reference import recurrent as ref
from layerconf.reference.dtypes import quantize

from .layers import make_layer

behaviour = pytest.mark.behaviour
UNITS = 16                                # features = units
CANDIDATE = {"rnn": "g", "lstm": "g", "gru": "n"}
GATE_BIAS = {"i": 1.0, "f": 0.0, "o": 2.0, "r": 2.0, "z": -2.0}   # sigmoid(.) of the constant gates
RATE_BATCH, RATE_STEPS = 12_000, 4        # per-sequence draws N H = 192 000: power > 0.99 against rate -/+ 0.01
TIME_BATCH, TIME_STEPS = 64, 8            # N H = 1024 units watched over 8 steps


def build(adapter, profile, cell, layers, dtype="float64", **rates):
    """The flavour's layer with dropout ``rates`` at the neutral sites (between_layers, inputs, state)."""
    return make_layer(adapter, profile, "recurrent", dtype, kind=cell,
                      sizes={"layers": layers, "features": UNITS, "units": UNITS}, **rates)


def random_weights(rng, cell, dtype):
    """Well-conditioned weights, entries N(0, 1) / sqrt(units), held exactly in the parameter dtype."""
    size = len(ref.GATES[cell]) * UNITS
    draw = {"kernel": (UNITS, size), "recurrent_kernel": (UNITS, size), "bias": (size,), "recurrent_bias": (size,)}
    p = "float64" if dtype == "float64" else "float32"
    return {k: quantize(rng.standard_normal(s) / np.sqrt(UNITS), p) for k, s in draw.items()}


def probe(cell, site):
    """Weights that make the mask at ``site`` recoverable: kernel (and, for the state site, recurrent_kernel) the
    identity on the candidate gate's block, zero elsewhere; the other gates constant through GATE_BIAS."""
    gates, eye = ref.GATES[cell], np.eye(UNITS)
    blocks = {"kernel": [], "recurrent_kernel": [], "bias": []}
    for g in gates:
        on = g == CANDIDATE[cell]
        blocks["kernel"].append(eye if on else 0 * eye)
        blocks["recurrent_kernel"].append(eye if on and site == "state" else 0 * eye)
        blocks["bias"].append(np.full(UNITS, GATE_BIAS.get(g, 0.0)))
    w = {k: np.concatenate(v, axis=-1) for k, v in blocks.items()}
    return {**w, "recurrent_bias": np.zeros_like(w["bias"])}


def probe_input(rng, site, n, steps, dtype):
    """Positive inputs: the step input itself is read at the inputs sites, x + h_{t-1} at the state site."""
    low, high = (0.1, 0.5) if site == "state" else (0.5, 1.5)
    return quantize(rng.uniform(low, high, (n, steps, UNITS)), dtype)


def decode(cell, u, w, y, site, rate):
    """The keep mask (N, T, H) that reproduces y from the layer's input u, read step by step: at each step the
    reference output with the entry dropped and with it kept x 1/(1 - p), the nearer one to y. At the state site
    step 1 meets h_0 = 0 and cannot tell (reported dropped; the statistics leave it out)."""
    n, steps, _ = u.shape
    h = c = np.zeros((n, UNITS))
    keep = np.zeros((n, steps, UNITS), bool)
    y = np.asarray(y, np.float64)
    for t in range(steps):
        (h0, c0), (h1, c1) = (ref.step(cell, u[:, t], h, c, w, **{"m_state" if site == "state" else "m_in": m})
                              for m in (0.0, 1.0 / (1.0 - rate)))
        keep[:, t] = np.abs(y[:, t] - h1) < np.abs(y[:, t] - h0)
        h, c = np.where(keep[:, t], h1, h0), np.where(keep[:, t], c1, c0)
    return keep


def run_site(adapter, profile, site, cell, rate, n, steps, rng, dtype="float32"):
    """One training call with dropout at ``site``: (y, the layer input u the masked layer reads, its weights,
    the decoded keep mask, the reference output under that mask)."""
    layers = 2 if site == "between_layers" else 1
    weights = [probe(cell, site) for _ in range(layers)]
    layer = build(adapter, profile, cell, layers, dtype, **{site: rate})
    layer.set_weights(weights)
    x = probe_input(rng, site, n, steps, dtype)
    y = layer.forward(x, training=True)
    u = ref.layer(cell, x, weights[0]) if layers == 2 else np.asarray(x, np.float64)
    keep = decode(cell, u, weights[-1], y, site, rate)
    mask = ref.scaled(keep, rate)
    expected = ref.layer(cell, u, weights[-1], **{"state_mask" if site == "state" else "in_mask": mask})
    return y, keep, expected


def draws(keep, site, per: str):
    """The independent draws of a keep mask: every step's (per_step), or one step's (per_sequence); the state
    site's first step is left out."""
    keep = keep[:, 1:] if site == "state" else keep
    return keep if per == "per_step" else keep[:, -1]


@behaviour("recurrent.eval.values")
def test_eval_values(case, adapter, profile, check, rng):
    cell, dtype = case["cell"], case["dtype"]
    sites = list(profile.get("recurrent.arguments"))
    layers = 2 if "between_layers" in sites else 1
    weights = [random_weights(rng, cell, dtype) for _ in range(layers)]
    layer = build(adapter, profile, cell, layers, dtype, **{s: 0.5 for s in sites})
    layer.set_weights(weights)
    x = quantize(rng.standard_normal((8, 6, UNITS)), dtype)
    first, second = (layer.forward(x, training=False) for _ in range(2))
    check.equal("second call", second, first)
    check.close("y", first, ref.stack(cell, x, weights), dtype=dtype)


def check_values(case, adapter, profile, check, rng, site):
    y, keep, expected = run_site(adapter, profile, site, case["cell"], case["rate"], 32, 6, rng, case["dtype"])
    check.close("y", y, expected, dtype=case["dtype"])


def check_rate(case, adapter, profile, check, rng, site):
    rate, per = case["rate"], profile.get(f"recurrent.masks.{site}")
    _, keep, _ = run_site(adapter, profile, site, case["cell"], rate, RATE_BATCH, RATE_STEPS, rng)
    keep = draws(keep, site, per)
    n, dropped = keep.size, int(np.count_nonzero(~keep))
    check.rate("dropped units", dropped, n, rate, observe="drop",
               detail=f"(n = {n} {per} draws, rate = {rate}, observed {dropped / n:.5f})")


def check_over_time(case, adapter, profile, check, rng, site):
    rate, per = case["rate"], profile.get(f"recurrent.masks.{site}")
    _, keep, _ = run_site(adapter, profile, site, case["cell"], rate, TIME_BATCH, TIME_STEPS, rng)
    keep = keep[:, 1:] if site == "state" else keep
    constant = ref.constant_over_time(keep)
    steps, n, k = keep.shape[1], constant.size, int(constant.sum())
    check.observe("recurrent_mask", f"{site}: " + ("per_sequence" if k == n else "per_step" if k < n / 2 else "mixed"))
    if per == "per_sequence":
        check.true("mask over time", k == n, f"{n - k} of {n} units change their mask between steps")
        return
    q = rate**steps + (1 - rate) ** steps
    check.rate("units with one mask over all steps", k, n, q, {"per_sequence": 1.0},
               detail=f"(n = {n} units, {steps} steps, P(constant) = {q:.3g})")


def _site_tests(site):
    @behaviour(f"recurrent.{site}.values")
    def values(case, adapter, profile, check, rng):
        check_values(case, adapter, profile, check, rng, site)

    @behaviour(f"recurrent.{site}.rate")
    def rate(case, adapter, profile, check, rng):
        check_rate(case, adapter, profile, check, rng, site)

    @behaviour(f"recurrent.{site}.over_time")
    def over_time(case, adapter, profile, check, rng):
        check_over_time(case, adapter, profile, check, rng, site)
    return values, rate, over_time


test_between_layers_values, test_between_layers_rate, test_between_layers_over_time = _site_tests("between_layers")
test_inputs_values, test_inputs_rate, test_inputs_over_time = _site_tests("inputs")
test_state_values, test_state_rate, test_state_over_time = _site_tests("state")
