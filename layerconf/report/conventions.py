"""Observed conventions of one column, measured by the checks (``observed`` of each record).

Each convention has a comparable ``value`` (None where no check measured it) and a sentence saying
what was measured. Nothing is read from the profiles: these are what the framework did.
"""
from dataclasses import dataclass, field

import numpy as np

from layerconf.outcomes import Outcome

CLOSE = 1e-3   # relative agreement between a measured factor and a candidate formula


@dataclass
class Convention:
    key: str
    title: str
    value: object = None
    text: str = "not measured"
    data: dict = field(default_factory=dict)   # extra measurements the porting table uses


TITLES = {
    "momentum": "momentum meaning",
    "default_momentum": "default momentum",
    "default_eps": "default eps",
    "running_var": "running-variance correction",
    "initial_state": "initial state",
    "frozen": "frozen layer in a training call",
    "batch_dependence": "output depends on the rest of the batch",
    "batch_size_one": "training batch of one",
    "dropout_scaling": "dropout scaling",
    "dropout_rate_one": "dropout rate 1",
    "attention_dropout": "attention dropout",
    "attention_weights": "returned attention weights",
    "attention_fast_path": "attention fast path",
    "rrelu_slopes": "RReLU slopes",
    "rrelu_bounds": "RReLU bounds outside 0 <= lower <= upper <= 1",
    "renorm": "batch renormalization (renorm)",
    "virtual_batches": "ghost batches (virtual_batch_size)",
    "augmentation_direct_call": "augmentation layer called without the training flag",
    "augmentation_crop_inference": "RandomCrop in inference",
    "augmentation_flip_both": "RandomFlip horizontal_and_vertical",
    "augmentation_contrast_draws": "RandomContrast factor drawn",
    "instance_norm_running": "InstanceNorm running statistics",
    "stochastic_depth": "stochastic-depth modes",
    "gaussian_noise": "Gaussian noise",
    "recurrent_dropout": "recurrent dropout: where, and its mask over time",
}
WORDS = {   # a convention measured as one observed value: convention key -> (observed key, value -> sentence)
    "batch_size_one": ("batch_size_one", {"error": "raises an error", "beta": "returns beta (x - mean_B = 0)",
                                          "identity": "returns x unchanged"}),
    "attention_weights": ("attention_returned_weights", {"pre_dropout": "the softmax before the dropout",
                                                         "post_dropout": "after the dropout (what the output used)",
                                                         "other": "neither the weights before nor after the dropout"}),
    "augmentation_direct_call": ("augmentation_direct_call", {"training": "augments (call's default is training=True)",
                                                              "inference": "returns its input"}),
    "augmentation_crop_inference": ("augmentation_crop_inference", {
        "center_crop_resize": "centred window resized to the target size", "identity": "returns its input uncropped",
        "other": "neither the input nor the centred window"}),
    "augmentation_flip_both": ("augmentation_flip_both", {"joint": "one draw flips both axes or neither",
                                                          "independent": "one draw per axis"}),
    "augmentation_contrast_draws": ("augmentation_contrast_draws", {"per_image": "per image",
                                                                    "per_batch": "once per call, for the whole batch"}),
}


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


def momentum(records) -> Convention:
    c = Convention("momentum", TITLES["momentum"])
    seen = [(*next(iter(r["observed"]["decay_argument"].items())), d)
            for r, d in observed(records, "decay") if r["observed"].get("decay_argument")]
    if not seen:
        return c
    kinds = {_meaning(m, d) for _, m, d in seen}
    c.value = kinds.pop() if len(kinds) == 1 else "inconsistent"
    name, m, d = next((s for s in seen if 0 < s[1] < 1), seen[0])
    c.data = {"name": name}
    measured = f"measured: {name}={m:g} kept weight {d:.4g} on the old value"
    c.text = {
        "batch": f"{name} weights the batch: new = (1 - {name}) old + {name} batch ({measured})",
        "old": f"{name} weights the old value: new = {name} old + (1 - {name}) batch ({measured})",
        "other": f"neither 1 - {name} nor {name} is the weight on the old value ({measured})",
        "inconsistent": f"differs between checks ({measured})",
    }[c.value]
    return c


def default_momentum(records, meaning: Convention) -> Convention:
    c = Convention("default_momentum", TITLES["default_momentum"])
    seen = observed(records, "default_decay")
    if not seen:
        return c
    d = seen[0][1]
    c.data = {"decay": d}
    if meaning.value in ("batch", "old"):
        native = 1 - d if meaning.value == "batch" else d
        c.value = (meaning.data["name"], round(native, 6))
        c.text = f"{meaning.data['name']}={native:.4g} (weight {d:.4g} on the old value)"
    else:
        c.value, c.text = ("decay", round(d, 6)), f"weight {d:.4g} on the old value"
    return c


def default_eps(records) -> Convention:
    c = Convention("default_eps", TITLES["default_eps"])
    seen = observed(records, "default_eps")
    names = [next(iter(a)) for _, a in observed(records, "eps_argument")]
    if not seen:
        return c
    name, eps = (names[0] if names else "eps"), float(f"{seen[0][1]:.2g}")
    c.value, c.data = (name, eps), {"name": name}
    c.text = f"{name}={eps:g} (measured {seen[0][1]:.4g} from a batch with variance ~ eps)"
    return c


def running_var(records) -> Convention:
    c = Convention("running_var", TITLES["running_var"])
    seen = sorted(((r["observed"]["n"], f) for r, f in observed(records, "running_var_factor") if "n" in r["observed"]))
    if not seen:
        return c
    kinds = {"unbiased" if _close(f, n / (n - 1)) else "biased" if _close(f, 1.0) else "other" for n, f in seen}
    c.value = kinds.pop() if len(kinds) == 1 else "inconsistent"
    n, f = seen[0]
    c.data = {"factors": dict(seen)}
    formula = {"unbiased": "unbiased: var_B n/(n-1)", "biased": "biased: var_B",
               "other": "neither n/(n-1) nor 1", "inconsistent": "differs between checks"}[c.value]
    c.text = f"{formula} (measured factor {f:.4g} at n = {n} values per channel)"
    return c


def initial_state(records) -> Convention:
    c = Convention("initial_state", TITLES["initial_state"])
    keys = ("running_mean", "running_var", "gamma", "beta")
    values = {k: observed(records, f"initial_{k}") for k in keys}
    if not any(values.values()):
        return c
    c.value = tuple(round(v[0][1], 6) if v else None for v in values.values())
    c.text = ", ".join(f"{k} {v[0][1]:g}" for k, v in values.items() if v)
    return c


def frozen(records) -> Convention:
    c = Convention("frozen", TITLES["frozen"])
    updates, output = observed(records, "frozen_updates_statistics"), observed(records, "frozen_output")
    if not updates:
        return c
    c.value = (updates[0][1], output[0][1] if output else None)
    c.text = ("updates the running statistics" if updates[0][1] else "leaves the running statistics unchanged")
    if output:
        c.text += f", normalises with the {output[0][1]}"
    params = ran(records, "bn.frozen.parameters")
    if params:
        c.text += "; parameters " + ("unchanged" if all(o == Outcome.PASSED for o in params) else "CHANGED") + " by an optimizer step"
    return c


def batch_dependence(records) -> Convention:
    c = Convention("batch_dependence", TITLES["batch_dependence"])
    seen = observed(records, "inference_batch_difference")
    if not seen:
        return c
    worst = max(v for _, v in seen)
    depends = any(r["outcome"] in (Outcome.FAILED, Outcome.ERROR) for r, _ in seen)
    training = observed(records, "training_output_depends_on_batch")
    c.value = depends
    c.text = (f"inference: {'yes' if depends else 'no'} (largest difference {worst:.2g})"
              + (f"; training: {'yes' if training[0][1] else 'no'}" if training else ""))
    return c



def dropout_scaling(records) -> Convention:
    c = Convention("dropout_scaling", TITLES["dropout_scaling"])
    seen = [(r["params"]["rate"], s) for r, s in observed(records, "dropout_scale") if "rate" in r["params"]]
    if not seen:
        return c
    inverted = all(abs(s * (1 - p) - 1) < 1e-2 for p, s in seen)   # medians of float16/bfloat16 ratios too
    identity = ran(records, "do.eval.identity")
    p, s = seen[0]
    c.value = ("inverted" if inverted else "other", all(o == Outcome.PASSED for o in identity) if identity else None)
    c.text = (("kept x/(1-p) in training" if inverted else "kept values NOT x/(1-p)") + f" (measured x{s:.4g} at p = {p:g})"
              + ("" if not identity else "; identity in inference" if c.value[1] else "; inference is NOT the identity"))
    return c


def dropout_rate_one(records) -> Convention:
    c = Convention("dropout_rate_one", TITLES["dropout_rate_one"])
    seen = observed(records, "rate_one")
    if seen:
        c.value = seen[0][1]
        c.text = {"error": "raises an error", "zeros": "outputs zeros", "NaN": "outputs NaN",
                  "other values": "outputs values other than zeros"}.get(c.value, str(c.value))
    return c


def attention_dropout(records) -> Convention:
    c = Convention("attention_dropout", TITLES["attention_dropout"])
    seen = [(r["params"]["rate"], s) for r, s in observed(records, "attention_dropout_scale")]
    if not seen:
        return c
    p, s = seen[0]
    inverted = all(abs(s * (1 - p) - 1) < 1e-3 for p, s in seen)
    on_weights = all(o == Outcome.PASSED for o in ran(records, "attn.train.values"))
    shared = tuple(observed(records, "attention_mask_shared")[0][1]) if observed(records, "attention_mask_shared") else ()
    c.value = (on_weights, inverted, shared)
    c.text = (("on the attention weights" if on_weights else "NOT as on the attention weights")
              + f", kept x{s:.4g} at p = {p:g}" + ("" if inverted else " (NOT 1/(1-p))")
              + (f"; one mask shared along {' and '.join(shared)}" if shared else "; one draw per weight"))
    return c



def attention_fast_path(records) -> Convention:
    c = Convention("attention_fast_path", TITLES["attention_fast_path"])
    parts = [(name, observed(records, key)) for name, key in (("attention", "attention_fast_path_difference"),
                                                              ("encoder layer", "encoder_fast_path_difference"))]
    parts = [(name, seen[0][1], seen[0][0]["outcome"] == Outcome.PASSED) for name, seen in parts if seen]
    if parts:
        c.value = all(agrees for *_, agrees in parts)
        c.text = "; ".join(f"{name}: {'equals' if agrees else 'DIFFERS from'} the general path (largest difference {d:.2g})"
                           for name, d, agrees in parts)
    return c


def _rrelu_arithmetic(slope: float, lower: float, upper: float) -> set:
    """The precisions (lower + upper) / 2 may have been computed in, given the measured slope: float64, float32 (bounds
    and sum rounded, as Paddle's float attributes), both where the two agree (0.1 + 0.4 is 0.5 in float32 too)."""
    candidates = {"float64": (lower + upper) / 2, "float32": float((np.float32(lower) + np.float32(upper)) / np.float32(2))}
    return {k for k, m in candidates.items() if abs(slope - m) <= 1e-13 * abs(m)}


def rrelu_slopes(records) -> Convention:
    """Inference slope against (lower + upper) / 2 (float64 checks: in which precision), training slope range
    against [lower, upper]."""
    c = Convention("rrelu_slopes", TITLES["rrelu_slopes"])
    inference = [(r["params"], s) for r, s in observed(records, "rrelu_inference_slope")
                 if "lower" in r["params"] and r["params"].get("dtype") == "float64"]
    training = [(r["params"], s) for r, s in observed(records, "rrelu_slope_range") if "lower" in r["params"]]
    if not inference and not training:
        return c
    kinds = set.intersection(*(_rrelu_arithmetic(s, p["lower"], p["upper"]) for p, s in inference)) if inference else set()
    kind = None if not inference else "other" if not kinds else "float64" if "float64" in kinds else "float32"
    inside = all(p["lower"] - 1e-6 <= lo and hi <= p["upper"] + 1e-6 for p, (lo, hi) in training)
    c.value = (kind, inside if training else None)
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
    c.text = "; ".join(parts)
    return c


def rrelu_bounds(records) -> Convention:
    c = Convention("rrelu_bounds", TITLES["rrelu_bounds"])
    seen = {r["params"]["bounds"]: v for r, v in observed(records, "rrelu_invalid_bounds")}
    if seen:
        c.value = tuple(sorted(seen.items()))
        c.text = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(seen.items()))
    return c


def renorm(records) -> Convention:
    """Whether the renorm checks ran and how they ended (bn.renorm.train_output)."""
    c = Convention("renorm", TITLES["renorm"])
    outcomes = ran(records, "bn.renorm.train_output")
    if outcomes:
        c.value = "available" if Outcome.PASSED in outcomes else "fails"
        c.text = ("renorm=True trains as Ioffe (2017): r, d clipped, stop_gradient" if c.value == "available"
                  else "renorm=True fails every training check")
    return c


def virtual_batches(records) -> Convention:
    """Which samples form a virtual batch (bn.virtual.train_output), or that the argument is rejected."""
    c = Convention("virtual_batches", TITLES["virtual_batches"])
    seen, rejected = observed(records, "virtual_batch_grouping"), ran(records, "bn.virtual.rejected")
    if seen:
        c.value = seen[0][1]
        c.text = {"strided": "virtual batch j holds samples j, j + N/v, j + 2N/v, ... (not consecutive ones)",
                  "contiguous": "virtual batch j holds v consecutive samples"}.get(c.value, "neither strided nor contiguous")
    elif rejected:
        c.value, c.text = "rejected", "no virtual_batch_size: the argument is an error"
    return c


def worded(key: str):
    """The convention ``key`` of WORDS: the first value its observed key holds, told in WORDS' sentence for it."""

    def measure(records) -> Convention:
        c = Convention(key, TITLES[key])
        name, sentences = WORDS[key]
        seen = observed(records, name)
        if seen:
            c.value = seen[0][1]
            c.text = sentences.get(c.value, str(c.value))
        return c
    return measure


def instance_norm_running(records) -> Convention:
    """The factor on the batch-averaged biased instance variance in running_var: s/(s-1) unbiased, 1 biased (a sum
    over the batch instead of the mean shows as another factor); 'none' where the layer ran without any."""
    c = Convention("instance_norm_running", TITLES["instance_norm_running"])
    seen = [(r["observed"]["instance_norm_spatial_size"], f) for r, f in observed(records, "instance_norm_var_factor")
            if "instance_norm_spatial_size" in r["observed"]]
    if seen:
        kinds = {"unbiased" if _close(f, s / (s - 1)) else "biased" if _close(f, 1.0) else "other" for s, f in seen}
        c.value = kinds.pop() if len(kinds) == 1 else "inconsistent"
        s, f = seen[0]
        c.text = {"unbiased": "instance means and unbiased variances var s/(s-1), averaged over the batch",
                  "biased": "instance means and biased variances, averaged over the batch",
                  "other": "neither the batch mean of s/(s-1) var nor of var",
                  "inconsistent": "differs between checks"}[c.value] + f" (measured factor {f:.4g} at s = {s})"
    elif ran(records, "instance_norm.eval.instance_stats"):
        c.value, c.text = "none", "none: instance statistics in training and inference"
    return c


def gaussian_noise(records) -> Convention:
    c = Convention("gaussian_noise", TITLES["gaussian_noise"])
    keys = ("noise_per_element", "noise_stddev_above_one", "noise_seed_per_layer")
    seen = [observed(records, k) for k in keys]
    ratios = observed(records, "noise_variance_ratio")
    if not (ratios or any(seen)):
        return c
    c.value = tuple(s[0][1] if s else None for s in seen)
    per_element, above, per_layer = c.value
    c.text = (f"adds N(0, stddev^2) noise {'drawn per element' if per_element else 'NOT drawn per element'}"
              if per_element is not None else "adds N(0, stddev^2) noise")
    if ratios:
        c.text += f" (variance ratio {ratios[0][1]:.4f} at stddev {ratios[0][0]['params']['stddev']:g})"
    if above is not None:
        c.text += f"; stddev above 1: {'raises an error' if above == 'error' else 'adds noise of that size'}"
    if per_layer is not None:
        c.text += "; seed argument: " + ("two layers of one seed draw the same noise" if per_layer
                                         else "an operation seed: the same noise only after reseeding the global generator")
    return c


def stochastic_depth(records) -> Convention:
    c = Convention("stochastic_depth", TITLES["stochastic_depth"])
    masks = {r["params"]["mode"]: m for r, m in observed(records, "depth_mask") if "mode" in r["params"]}
    if not masks:
        return c
    c.value = tuple(sorted(masks.items()))
    words = {"row": "one draw per row of axis 0", "input": "one draw for the whole input", "element": "one draw per element"}
    scale = observed(records, "depth_scale")
    c.text = "; ".join(f"mode {m}: {words.get(k, k)}" for m, k in c.value) + (
        f"; kept x{scale[0][1]:.4g} at p = {scale[0][0]['params']['rate']:g}" if scale else "")
    return c


def recurrent_dropout(records) -> Convention:
    """The sites a recurrent layer drops (between_layers, inputs, state), each with its mask over time."""
    c = Convention("recurrent_dropout", TITLES["recurrent_dropout"])
    seen = sorted({value for _, value in observed(records, "recurrent_mask")})
    if seen:
        c.value = tuple(seen)
        c.text = "; ".join(seen)
    return c


def conventions(records: list[dict]) -> dict[str, Convention]:
    """Every convention of one column, by key, in TITLES order."""
    meaning = momentum(records)
    found = [meaning, default_momentum(records, meaning), default_eps(records), running_var(records),
             initial_state(records), frozen(records), batch_dependence(records), worded("batch_size_one")(records),
             dropout_scaling(records), dropout_rate_one(records), attention_dropout(records), worded("attention_weights")(records),
             attention_fast_path(records), rrelu_slopes(records), rrelu_bounds(records),
             renorm(records), virtual_batches(records), *(worded(k)(records) for k in WORDS if k.startswith("augmentation_")),
             instance_norm_running(records), gaussian_noise(records), stochastic_depth(records),
             recurrent_dropout(records)]
    return {c.key: c for c in found}
