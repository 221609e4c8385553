"""Observed conventions of one column, measured by the checks (``observed`` of each record).

TABLE (conventions.yaml) names each convention's title, its measure here and its porting lines. A measure takes
a column's records and returns (value, text) or (value, text, data): a comparable value, a sentence saying
what was measured and any measurements the porting table uses; None where no check measured it. Nothing is
read from the profiles: these are what the framework did.
"""
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from layerconf import specs
from layerconf.outcomes import Outcome

CLOSE = 1e-3   # relative agreement between a measured factor and a candidate formula
TABLE = specs.load_yaml(Path(__file__).with_name("conventions.yaml"), "conventions")


@dataclass
class Convention:
    key: str
    title: str
    value: object = None
    text: str = "not measured"
    data: dict = field(default_factory=dict)   # extra measurements the porting table uses


def ran(records: list[dict], behaviour: str) -> list[str]:
    """Outcomes of the behaviour's checks that ran (not applicable, skipped and not run left out)."""
    return [r["outcome"] for r in records if r["behaviour"] == behaviour and Outcome(r["outcome"]).ran]


def observed(records: list[dict], name: str) -> list[tuple[dict, object]]:
    return [(r, r["observed"][name]) for r in records if r.get("observed", {}).get(name) is not None]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= CLOSE * max(1.0, abs(b))


def _meaning(m: float, d: float) -> str:
    """What argument value m is, given d, the weight it put on the old value."""
    if _close(d, 1 - m) and not _close(d, m):
        return "batch"
    return "old" if _close(d, m) else "other"


def worded(records, name: str, words: dict):
    """A convention told by one observed value: the first value of the observed key ``name``, in ``words``' sentence
    for it (the value itself where words have none)."""
    seen = observed(records, name)
    return (seen[0][1], words.get(seen[0][1], str(seen[0][1]))) if seen else None


def momentum(records):
    seen = [(*next(iter(r["observed"]["decay_argument"].items())), d)
            for r, d in observed(records, "decay") if r["observed"].get("decay_argument")]
    if not seen:
        return None
    kinds = {_meaning(m, d) for _, m, d in seen}
    value = kinds.pop() if len(kinds) == 1 else "inconsistent"
    name, m, d = next((s for s in seen if 0 < s[1] < 1), seen[0])
    measured = f"measured: {name}={m:g} kept weight {d:.4g} on the old value"
    text = {
        "batch": f"{name} weights the batch: new = (1 - {name}) old + {name} batch ({measured})",
        "old": f"{name} weights the old value: new = {name} old + (1 - {name}) batch ({measured})",
        "other": f"neither 1 - {name} nor {name} is the weight on the old value ({measured})",
        "inconsistent": f"differs between checks ({measured})",
    }[value]
    return value, text, {"name": name}


def default_momentum(records):
    """The default weight on the old value, spelt as the momentum argument where its meaning was measured."""
    seen = observed(records, "default_decay")
    if not seen:
        return None
    d, meaning = seen[0][1], momentum(records)
    if meaning is None or meaning[0] not in ("batch", "old"):
        return ("decay", round(d, 6)), f"weight {d:.4g} on the old value", {"decay": d}
    kind, _, data = meaning
    native = 1 - d if kind == "batch" else d
    return (data["name"], round(native, 6)), f"{data['name']}={native:.4g} (weight {d:.4g} on the old value)", {"decay": d}


def default_eps(records):
    seen = observed(records, "default_eps")
    names = [next(iter(a)) for _, a in observed(records, "eps_argument")]
    if not seen:
        return None
    name, eps = (names[0] if names else "eps"), float(f"{seen[0][1]:.2g}")
    return (name, eps), f"{name}={eps:g} (measured {seen[0][1]:.4g} from a batch with variance ~ eps)", {"name": name}


def running_var(records):
    seen = sorted(((r["observed"]["n"], f) for r, f in observed(records, "running_var_factor") if "n" in r["observed"]))
    if not seen:
        return None
    kinds = {"unbiased" if _close(f, n / (n - 1)) else "biased" if _close(f, 1.0) else "other" for n, f in seen}
    value = kinds.pop() if len(kinds) == 1 else "inconsistent"
    n, f = seen[0]
    formula = {"unbiased": "unbiased: var_B n/(n-1)", "biased": "biased: var_B",
               "other": "neither n/(n-1) nor 1", "inconsistent": "differs between checks"}[value]
    return value, f"{formula} (measured factor {f:.4g} at n = {n} values per channel)", {"factors": dict(seen)}


def initial_state(records):
    keys = ("running_mean", "running_var", "gamma", "beta")
    values = {k: observed(records, f"initial_{k}") for k in keys}
    if not any(values.values()):
        return None
    return (tuple(round(v[0][1], 6) if v else None for v in values.values()),
            ", ".join(f"{k} {v[0][1]:g}" for k, v in values.items() if v))


def frozen(records):
    updates, output = observed(records, "frozen_updates_statistics"), observed(records, "frozen_output")
    if not updates:
        return None
    text = "updates the running statistics" if updates[0][1] else "leaves the running statistics unchanged"
    if output:
        text += f", normalises with the {output[0][1]}"
    params = ran(records, "bn.frozen.parameters")
    if params:
        text += "; parameters " + ("unchanged" if all(o == Outcome.PASSED for o in params) else "CHANGED") + " by an optimizer step"
    return (updates[0][1], output[0][1] if output else None), text


def batch_dependence(records):
    seen = observed(records, "inference_batch_difference")
    if not seen:
        return None
    worst = max(v for _, v in seen)
    depends = any(r["outcome"] in (Outcome.FAILED, Outcome.ERROR) for r, _ in seen)
    training = observed(records, "training_output_depends_on_batch")
    return depends, (f"inference: {'yes' if depends else 'no'} (largest difference {worst:.2g})"
                     + (f"; training: {'yes' if training[0][1] else 'no'}" if training else ""))


def kernels(records):
    """The kernels other than the default that ran (checks of specs/behaviours/kernels.yaml, parameter kernel), each with
    its layers' checks passed (or declared) of those run, and whether an in-place kernel overwrote its caller's input."""
    tally = {}
    for r in records:
        if "kernel" in r["params"] and Outcome(r["outcome"]).ran:
            layer = specs.layers().get(r["family"].split(".")[0], r["family"])
            counts = tally.setdefault(r["params"]["kernel"], {}).setdefault(layer, [0, 0, 0])
            counts[0] += Outcome(r["outcome"]) == Outcome.PASSED
            counts[1] += Outcome(r["outcome"]) == Outcome.DEVIATION
            counts[2] += 1
    if not tally:
        return None
    written = {v for _, v in observed(records, "input_overwritten")}
    parts = []
    for kernel, layers in sorted(tally.items()):
        each = ", ".join(f"{layer} {p}/{n} passed" + (f", {d} declared" if d else "") for layer, (p, d, n) in layers.items())
        parts.append(f"{kernel}: {each}")
    overwrite = {frozenset({True}): "; in-place calls overwrote their input",
                 frozenset({True, False}): "; some in-place calls did NOT overwrite their input"}
    return tuple(sorted(tally)), "; ".join(parts) + (overwrite.get(frozenset(written), "") if "inplace" in tally else "")


def dropout_scaling(records):
    seen = [(r["params"]["rate"], s) for r, s in observed(records, "dropout_scale") if "rate" in r["params"]]
    if not seen:
        return None
    inverted = all(abs(s * (1 - p) - 1) < 1e-2 for p, s in seen)   # medians of float16/bfloat16 ratios too
    identity = ran(records, "do.eval.identity")
    p, s = seen[0]
    value = ("inverted" if inverted else "other", all(o == Outcome.PASSED for o in identity) if identity else None)
    return value, (("kept x/(1-p) in training" if inverted else "kept values NOT x/(1-p)") + f" (measured x{s:.4g} at p = {p:g})"
                   + ("" if not identity else "; identity in inference" if value[1] else "; inference is NOT the identity"))


def attention_dropout(records):
    seen = [(r["params"]["rate"], s) for r, s in observed(records, "attention_dropout_scale")]
    if not seen:
        return None
    p, s = seen[0]
    inverted = all(abs(s * (1 - p) - 1) < 1e-3 for p, s in seen)
    on_weights = all(o == Outcome.PASSED for o in ran(records, "attn.train.values"))
    shared = tuple(observed(records, "attention_mask_shared")[0][1]) if observed(records, "attention_mask_shared") else ()
    return (on_weights, inverted, shared), (
        ("on the attention weights" if on_weights else "NOT as on the attention weights")
        + f", kept x{s:.4g} at p = {p:g}" + ("" if inverted else " (NOT 1/(1-p))")
        + (f"; one mask shared along {' and '.join(shared)}" if shared else "; one draw per weight"))


def attention_fast_path(records):
    parts = [(name, observed(records, key)) for name, key in (("attention", "attention_fast_path_difference"),
                                                              ("encoder layer", "encoder_fast_path_difference"))]
    parts = [(name, seen[0][1], seen[0][0]["outcome"] == Outcome.PASSED) for name, seen in parts if seen]
    if not parts:
        return None
    return all(agrees for *_, agrees in parts), "; ".join(
        f"{name}: {'equals' if agrees else 'DIFFERS from'} the general path (largest difference {d:.2g})" for name, d, agrees in parts)


def _rrelu_arithmetic(slope: float, lower: float, upper: float) -> set:
    """The precisions (lower + upper) / 2 may have been computed in, given the measured slope: float64, float32 (bounds
    and sum rounded, as Paddle's float attributes), both where the two agree (0.1 + 0.4 is 0.5 in float32 too)."""
    candidates = {"float64": (lower + upper) / 2, "float32": float((np.float32(lower) + np.float32(upper)) / np.float32(2))}
    return {k for k, m in candidates.items() if abs(slope - m) <= 1e-13 * abs(m)}


def rrelu_slopes(records):
    """Inference slope against (lower + upper) / 2 (float64 checks: in which precision), training slope range
    against [lower, upper]."""
    inference = [(r["params"], s) for r, s in observed(records, "rrelu_inference_slope")
                 if "lower" in r["params"] and r["params"].get("dtype") == "float64"]
    training = [(r["params"], s) for r, s in observed(records, "rrelu_slope_range") if "lower" in r["params"]]
    if not inference and not training:
        return None
    kinds = set.intersection(*(_rrelu_arithmetic(s, p["lower"], p["upper"]) for p, s in inference)) if inference else set()
    kind = None if not inference else "other" if not kinds else "float64" if "float64" in kinds else "float32"
    inside = all(p["lower"] - 1e-6 <= lo and hi <= p["upper"] + 1e-6 for p, (lo, hi) in training)
    parts = []
    if inference:
        p, s = max(inference, key=lambda ps: abs(ps[1] - (ps[0]["lower"] + ps[0]["upper"]) / 2))
        parts.append(f"inference {s:.10g} at lower={p['lower']:g}, upper={p['upper']:g} (" + {
            "float64": "(lower + upper) / 2", "float32": "(lower + upper) / 2 in float32",
            "other": "NOT (lower + upper) / 2"}[kind] + ")")
    if training:
        p, (lo, hi) = training[0]
        parts.append(f"training slopes in [{lo:.5f}, {hi:.5f}] at lower={p['lower']:g}, upper={p['upper']:g}"
                     + ("" if inside else " (OUTSIDE [lower, upper])"))
    return (kind, inside if training else None), "; ".join(parts)


def rrelu_bounds(records):
    seen = {r["params"]["bounds"]: v for r, v in observed(records, "rrelu_invalid_bounds")}
    if not seen:
        return None
    return tuple(sorted(seen.items())), "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(seen.items()))


def renorm(records):
    """Whether the renorm checks ran and how they ended (bn.renorm.train_output)."""
    outcomes = ran(records, "bn.renorm.train_output")
    if not outcomes:
        return None
    if Outcome.PASSED in outcomes:
        return "available", "renorm=True trains as Ioffe (2017): r, d clipped, stop_gradient"
    return "fails", "renorm=True fails every training check"


def virtual_batches(records):
    """Which samples form a virtual batch (bn.virtual.train_output), or that the argument is rejected."""
    seen = observed(records, "virtual_batch_grouping")
    if seen:
        return seen[0][1], {"strided": "virtual batch j holds samples j, j + N/v, j + 2N/v, ... (not consecutive ones)",
                            "contiguous": "virtual batch j holds v consecutive samples"}.get(seen[0][1], "neither strided nor contiguous")
    if ran(records, "bn.virtual.rejected"):
        return "rejected", "no virtual_batch_size: the argument is an error"
    return None


def instance_norm_running(records):
    """The factor on the batch-averaged biased instance variance in running_var: s/(s-1) unbiased, 1 biased (a sum
    over the batch instead of the mean shows as another factor); 'none' where the layer ran without any."""
    seen = [(r["observed"]["instance_norm_spatial_size"], f) for r, f in observed(records, "instance_norm_var_factor")
            if "instance_norm_spatial_size" in r["observed"]]
    if seen:
        kinds = {"unbiased" if _close(f, s / (s - 1)) else "biased" if _close(f, 1.0) else "other" for s, f in seen}
        value = kinds.pop() if len(kinds) == 1 else "inconsistent"
        s, f = seen[0]
        return value, {"unbiased": "instance means and unbiased variances var s/(s-1), averaged over the batch",
                       "biased": "instance means and biased variances, averaged over the batch",
                       "other": "neither the batch mean of s/(s-1) var nor of var",
                       "inconsistent": "differs between checks"}[value] + f" (measured factor {f:.4g} at s = {s})"
    if ran(records, "instance_norm.eval.instance_stats"):
        return "none", "none: instance statistics in training and inference"
    return None


def gaussian_noise(records):
    keys = ("noise_per_element", "noise_stddev_above_one", "noise_seed_per_layer")
    seen = [observed(records, k) for k in keys]
    ratios = observed(records, "noise_variance_ratio")
    if not (ratios or any(seen)):
        return None
    value = tuple(s[0][1] if s else None for s in seen)
    per_element, above, per_layer = value
    text = (f"adds N(0, stddev^2) noise {'drawn per element' if per_element else 'NOT drawn per element'}"
            if per_element is not None else "adds N(0, stddev^2) noise")
    if ratios:
        text += f" (variance ratio {ratios[0][1]:.4f} at stddev {ratios[0][0]['params']['stddev']:g})"
    if above is not None:
        text += f"; stddev above 1: {'raises an error' if above == 'error' else 'adds noise of that size'}"
    if per_layer is not None:
        text += "; seed argument: " + ("two layers of one seed draw the same noise" if per_layer
                                       else "an operation seed: the same noise only after reseeding the global generator")
    return value, text


def stochastic_depth(records):
    masks = {r["params"]["mode"]: m for r, m in observed(records, "depth_mask") if "mode" in r["params"]}
    if not masks:
        return None
    value = tuple(sorted(masks.items()))
    words = {"row": "one draw per row of axis 0", "input": "one draw for the whole input", "element": "one draw per element"}
    scale = observed(records, "depth_scale")
    return value, "; ".join(f"mode {m}: {words.get(k, k)}" for m, k in value) + (
        f"; kept x{scale[0][1]:.4g} at p = {scale[0][0]['params']['rate']:g}" if scale else "")


def recurrent_dropout(records):
    """The sites a recurrent layer drops (between_layers, inputs, state), each with its mask over time."""
    seen = sorted({value for _, value in observed(records, "recurrent_mask")})
    return (tuple(seen), "; ".join(seen)) if seen else None


def _measure(entry: dict):
    """The entry's measure as a function of the records (a worded one given its observed key and words)."""
    function = globals()[entry["measure"]]
    return functools.partial(function, name=entry["observed"], words=entry["words"]) if "words" in entry else function


MEASURES = {entry["key"]: _measure(entry) for entry in TABLE}


def conventions(records: list[dict]) -> dict[str, Convention]:
    """Every convention of TABLE for one column, by key, in TABLE's order."""
    return {e["key"]: Convention(e["key"], e["title"], *(MEASURES[e["key"]](records) or ())) for e in TABLE}
