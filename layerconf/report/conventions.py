"""Observed conventions of one column, measured by the checks (``observed`` of each record).

Each convention has a comparable ``value`` (None where no check measured it) and a sentence saying
what was measured. Nothing is read from the profiles: these are what the framework did.
"""
from dataclasses import dataclass, field

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
    "recurrent_dropout": "recurrent dropout: where, and its mask over time",
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


def batch_size_one(records) -> Convention:
    c = Convention("batch_size_one", TITLES["batch_size_one"])
    seen = observed(records, "batch_size_one")
    if seen:
        c.value = seen[0][1]
        texts = {"error": "raises an error", "beta": "returns beta (x - mean_B = 0)", "identity": "returns x unchanged"}
        c.text = texts.get(c.value, str(c.value))
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
             initial_state(records), frozen(records), batch_dependence(records), batch_size_one(records),
             dropout_scaling(records), dropout_rate_one(records), recurrent_dropout(records)]
    return {c.key: c for c in found}
