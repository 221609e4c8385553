"""The porting table: for each pair of columns, the settings that make them agree and the differences
no setting removes (with their size), from the observed conventions of each.

Each line comes from a convention's ``porting`` in the conventions table (conventions.TABLE), in the table's
order: ``setting`` and ``remaining`` name a function here, ``differs`` states both sides where they differ.
A line function takes (a_label, a, b_label, b), each side's conventions by key, and returns sentences.
"""
from dataclasses import dataclass, field
from itertools import combinations

from layerconf.report.conventions import TABLE


@dataclass
class Pair:
    a: str
    b: str
    settings: list = field(default_factory=list)      # sentences: how to spell one's setting in the other
    remaining: list = field(default_factory=list)     # sentences: differences no setting removes, with sizes


def _spell(meaning, decay: float) -> str:
    """The argument that gives weight ``decay`` on the old value, in a framework of this meaning."""
    return f"{meaning.data['name']}={(1 - decay if meaning.value == 'batch' else decay):.4g}"


def momentum_and_eps(a_label, a, b_label, b) -> list[str]:
    ma, mb, da, ea, eb = a["momentum"], b["momentum"], a["default_momentum"], a["default_eps"], b["default_eps"]
    if not all(c.value is not None for c in (ma, mb, da, ea, eb)) or "other" in (ma.value, mb.value):
        return []
    decay, eps = da.data["decay"], ea.value[1]
    same = f"{a_label} {_spell(ma, decay)}, {ea.value[0]}={eps:g} (its defaults) is {b_label} {_spell(mb, decay)}, {eb.value[0]}={eps:g}"
    db, eps_b = b["default_momentum"], eb.value[1]
    if db.value is not None and (abs(db.data["decay"] - decay) > 1e-6 or eps_b != eps):   # measured in float32 too
        same += f"; {b_label}'s defaults ({_spell(mb, db.data['decay'])}, {eb.value[0]}={eps_b:g}) differ: set them explicitly"
    return [same]


def frozen(a_label, a, b_label, b) -> list[str]:
    fa, fb = a["frozen"].value, b["frozen"].value
    if fa is None or fb is None or fa == fb:
        return []
    updating = a_label if fa[0] else b_label
    return [f"frozen layers: {updating}'s frozen layer still updates its statistics in a training call; "
            f"call {updating}'s frozen part in inference mode to match the other"]


def running_var(a_label, a, b_label, b) -> list[str]:
    ra, rb = a["running_var"], b["running_var"]
    if ra.value is None or rb.value is None or ra.value == rb.value or {ra.value, rb.value} != {"biased", "unbiased"}:
        return []
    unbiased, biased = (ra, rb) if ra.value == "unbiased" else (rb, ra)
    ul, bl = (a_label, b_label) if ra.value == "unbiased" else (b_label, a_label)
    common = sorted(set(unbiased.data["factors"]) & set(biased.data["factors"]))
    sizes = ", ".join(f"x{unbiased.data['factors'][n] / biased.data['factors'][n]:.4g} at n = {n}" for n in common)
    return [f"running variance: {ul} adds var_B n/(n-1), {bl} adds var_B; at a steady state {ul}'s running variance "
            f"is n/(n-1) times {bl}'s (n values per channel per batch; measured update ratio {sizes or 'n/a'})"]


def instance_norm_running(a_label, a, b_label, b) -> list[str]:
    ra, rb = a["instance_norm_running"].value, b["instance_norm_running"].value
    if ra is None or rb is None or (ra == "none") == (rb == "none"):
        return []
    keeps = a_label if rb == "none" else b_label
    return [f"InstanceNorm: {keeps}'s layer with running statistics normalises inference with them; the other keeps "
            f"none: build {keeps}'s without running statistics (its default) to match"]


def instance_norm_variance(a_label, a, b_label, b) -> list[str]:
    """Two InstanceNorm layers that both keep running statistics, folding in different instance variances."""
    ca, cb = a["instance_norm_running"], b["instance_norm_running"]
    if None in (ca.value, cb.value) or "none" in (ca.value, cb.value) or ca.value == cb.value:
        return []
    return [f"InstanceNorm running variance: {a_label} {ca.text}; {b_label} {cb.text}"]


def differs(key: str, sentence: str):
    """A difference in a measured behaviour that has no setting: stated with both sides' values."""

    def difference(a_label, a, b_label, b) -> list[str]:
        ca, cb = a[key], b[key]
        if ca.value is None or cb.value is None or ca.value == cb.value:
            return []
        return [f"{sentence}: {a_label} {ca.text}; {b_label} {cb.text}"]
    return difference


def _lines(kind: str) -> list:
    """The line functions of every convention's porting of this kind (setting, or remaining and differs)."""
    lines = []
    for entry in TABLE:
        porting = entry.get("porting", {})
        if kind in porting:
            lines.append(globals()[porting[kind]])
        if kind == "remaining" and "differs" in porting:
            lines.append(differs(entry["key"], porting["differs"]))
    return lines


SETTINGS, REMAINING = _lines("setting"), _lines("remaining")


def pairs(conventions: dict[str, dict]) -> list[Pair]:
    """Every pair of columns (label -> conventions), in column order."""
    out = []
    for (la, a), (lb, b) in combinations(conventions.items(), 2):
        out.append(Pair(la, lb, [s for f in SETTINGS for s in f(la, a, lb, b)],
                        [s for f in REMAINING for s in f(la, a, lb, b)]))
    return out
