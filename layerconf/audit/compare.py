"""``--compare A B``: two observed models of one network, their training-flag layers paired by order or by name,
each pair compared (no framework imported here).

Per pair and per pass (the step, the inference call): each side's measured mode and its check against the
reference, and B's layer input and output against A's (``layerconf.compare.compare``, A as the expected value,
the tolerance of B's output dtype); B's BatchNorm state before the step and its running statistics after it against
A's. A difference is named
with its size and what removes it:
  setting     a neutral word with other values (decay, eps, rate, ...): B's spelling of A's value (B's profile)
  state       a BatchNorm's gamma, beta or running statistics differ before the step
  mode        the layer ran in another mode in a pass: the output difference it makes
  output      same mode, inputs that agree, outputs that do not
  statistics  the running statistics after the step differ
  reference   a side's output or statistics off the float64 reference in its measured mode
Fixes come from B's framework part (``explain``: the deviation this suite declared for it, the export that removes
it) and from the porting table's lines (layerconf/report/conventions.yaml) over the conventions the two layers
showed. Training dropout draws its own mask on each side: its outputs are checked against the reference only.
A layer whose call has no input (a BatchNorm an exporter fused into the node before it) is checked against the
reference with A's input, state and settings, as the note says.
"""
from dataclasses import replace

import numpy as np

from layerconf.audit import measure
from layerconf.audit.document import COMPARE
from layerconf.audit.records import PASSES, TRAINING, Layer
from layerconf.audit.target import AuditError
from layerconf.compare import compare, errors
from layerconf.report import porting
from layerconf.report.conventions import TABLE, Convention
from layerconf.specs import SpecError

MAPPINGS = ("order", "name")
KINDS = ("setting", "state", "mode", "output", "statistics", "reference")
STATE = ("gamma", "beta", "running_mean", "running_var")
WORDS = {"step": "step", "inference": "inference call"}
CLOSE = 1e-6   # relative: settings held as float32 attributes (ONNX) read as equal to the float64 ones


def paired(a: list[Layer], b: list[Layer], by: str) -> tuple[list, list, list]:
    """(pairs, only in A, only in B). By order every layer has its partner of the same family, else AuditError."""
    if by == "order":
        if len(a) != len(b):
            raise AuditError(f"--compare: A has {len(a)} training-flag layers ({_listed(a)}), B has {len(b)} "
                             f"({_listed(b)}); pair them by name (--map name) or compare models of one network")
        for i, (x, y) in enumerate(zip(a, b)):
            if x.family != y.family:
                raise AuditError(f"--compare: by order, A's layer {i + 1} {x.path} ({x.family}) meets B's {y.path} "
                                 f"({y.family}); pair them by name (--map name)")
        return list(zip(a, b)), [], []
    if by != "name":
        raise AuditError(f"--map: {by!r} is not a mapping; allowed: {', '.join(MAPPINGS)}")
    by_path = {y.path: y for y in b}
    pairs = [(x, by_path[x.path]) for x in a if x.path in by_path and by_path[x.path].family == x.family]
    if not pairs:
        raise AuditError(f"--compare --map name: no layer path of A ({_listed(a)}) is in B ({_listed(b)})")
    matched_a, matched_b = {id(x) for x, _ in pairs}, {id(y) for _, y in pairs}
    return pairs, [x.path for x in a if id(x) not in matched_a], [y.path for y in b if id(y) not in matched_b]


def _listed(layers, shown=4) -> str:
    names = [x.path for x in layers[:shown]] + (["..."] if len(layers) > shown else [])
    return ", ".join(names) or "none"


def borrowed(a: Layer, b: Layer, diverged: dict) -> Layer:
    """B's layer with A's input, state and settings where its calls have an output but no input (fused): the
    state at export, folded into the node, kept by the step. In a pass where an earlier layer's outputs differ
    (``diverged``), A's input is not B's: the call keeps no arrays."""
    if not any(c is not None and c.x is None and c.y is not None for c in b.calls.values()):
        return b
    calls = {p: c if c is None or a.calls.get(p) is None or c.x is not None else
             replace(c, x=None if diverged[p] else a.calls[p].x, y=None if diverged[p] else c.y,
                     before=a.calls[p].before, after=a.calls[p].before)
             for p, c in b.calls.items()}
    return replace(b, settings=b.settings or a.settings, layout=b.layout or a.layout, statistics_changed=False,
                   calls=calls)


def _cmp(quantity, actual, expected, dtype):
    """B's array against A's (a channels-last port: A's axis 1 moved last), or None where either is missing."""
    if actual is None or expected is None:
        return None
    if np.shape(actual) != np.shape(expected) and np.ndim(expected) > 2 and \
            np.shape(np.moveaxis(expected, 1, -1)) == np.shape(actual):
        expected = np.moveaxis(expected, 1, -1)
    c = compare(quantity, actual, expected, dtype)
    largest = float(np.max(errors(actual, expected), initial=0.0)) if c.shape_ok else float("inf")
    return {"passed": c.passed, "max_error": largest, "margin": c.margin, "dtype": c.dtype, "detail": c.describe()}


def _same(u, v) -> bool:
    if isinstance(u, float) and isinstance(v, float):
        return abs(u - v) <= CLOSE * max(1.0, abs(u))
    return u == v


def _conventions(layer: Layer, profile, other: Layer) -> dict:
    """The conventions the porting table's lines read, as this layer showed them (the rest not measured)."""
    out = {e["key"]: Convention(e["key"], e["title"]) for e in TABLE}
    step, other_step = layer.measured.get("step"), other.measured.get("step")
    x = (layer.calls.get("step") or other.calls.get("step"))
    correction = profile.get("batchnorm.running_var_correction")
    if layer.family == "batchnorm" and correction and step and other_step and step.mode == other_step.mode == TRAINING \
            and layer.statistics_changed and other.statistics_changed and x is not None and x.x is not None:
        n = x.x.size // x.x.shape[1]
        out["running_var"] = Convention("running_var", "", correction, correction,
                                        {"factors": {n: n / (n - 1) if correction == "unbiased" else 1.0}})
    if layer.frozen is not None and other.frozen is not None and layer.family == "batchnorm":
        out["frozen"] = Convention("frozen", "", (bool(layer.statistics_changed), None), "")
    return out


PORTING = {"running variance": "statistics", "frozen layers": "statistics"}   # a porting line's opening -> kind


def compared(x: Layer, y: Layer, labels: tuple, profiles: tuple, explain, diverged: dict) -> dict:
    """One pair: settings, each pass's modes and comparisons, the statistics after the step, the differences.
    ``diverged``: pass -> whether an earlier pair's outputs differ in it (updated here)."""
    fused = y is not (y := borrowed(x, y, dict(diverged)))
    notes = [f"{labels[1]}'s layer is fused into the node before it ({y.cls}): checked with {labels[0]}'s input, "
             f"state and settings" + ("" if not any(diverged.values()) else
                                      f"; not in the {' or '.join(WORDS[p] for p in PASSES if diverged[p])}, where "
                                      f"an earlier layer's outputs differ")] if fused else []
    for layer, profile in zip((x, y), profiles):
        layer.measured = {p: measure.measured(layer, layer.calls.get(p), profile) for p in PASSES}
    differences = []
    for word, value in x.neutral().items():
        other = y.neutral().get(word)
        if other is not None and not _same(value, other):
            size = abs(value - other) if isinstance(value, float) and isinstance(other, float) else None
            try:
                spelt = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in profiles[1].native(x.family, **{word: value}).items())
                fix = [{"fix": f"set {labels[1]}'s {spelt} ({word} {value} as {labels[0]}'s)"}]
            except SpecError:   # B's profile has no argument for it: no setting removes it
                fix = []
            differences.append(_difference("setting", word, size, f"{word}: {labels[0]} {value}, {labels[1]} {other}", fix))
    passes = {}
    for p in PASSES:
        ca, cb, ma, mb = x.calls.get(p), y.calls.get(p), x.measured.get(p), y.measured.get(p)
        random = x.family == "dropout" and TRAINING in (ma and ma.mode, mb and mb.mode)
        dtype = cb.dtype if cb is not None and cb.dtype else None
        out = None if random or ca is None or cb is None else _cmp("output", cb.y, ca.y, dtype)
        inp = None if ca is None or cb is None else _cmp("input", cb.x, ca.x, dtype)
        passes[p] = {"a": _side(ma), "b": _side(mb), "output": out, "input": inp,
                     "random": random}
        diverged[p] = diverged[p] or random or bool(out and not out["passed"])
        if ma and mb and ma.mode != mb.mode:
            differences.append(_difference("mode", p, out and out["max_error"],
                                           f"in the {WORDS[p]}: {labels[0]} {ma.mode}, {labels[1]} {mb.mode}",
                                           explain("mode", p, x, y), out and out["margin"]))
        elif out and not out["passed"] and (inp is None or inp["passed"]):
            differences.append(_difference("output", p, out["max_error"], f"in the {WORDS[p]}, both {ma.mode}: "
                                           f"outputs differ on inputs that agree", [], out["margin"]))
        for label, m in zip(labels, (ma, mb)):
            if m and m.check and not m.check["passed"] and (p == "step" or m.check["quantity"] == "output"):
                statistic = m.check["quantity"] != "output" and label == labels[1]
                differences.append(_difference("reference", f"{p}, {label}", m.check["worst_error"],
                                               f"{label}'s {m.check['quantity']} in the {WORDS[p]} is off the reference "
                                               f"({m.mode}): {m.check['detail']}",
                                               explain("statistics", p, x, y) if statistic else [], m.check["margin"]))
    statistics = {}
    ca, cb = x.calls.get("step"), y.calls.get("step")
    if ca is not None and cb is not None and x.family == "batchnorm":
        start = {k: c for k in STATE if (c := _cmp(k, cb.before.get(k), ca.before.get(k), cb.dtype))}
        off = [k for k, c in start.items() if not c["passed"]]
        if off:
            differences.append(_difference("state", ", ".join(off), max(start[k]["max_error"] for k in off),
                                           f"the layers start from other values of {', '.join(off)}: their outputs "
                                           f"cannot agree where they use them", explain("state", "step", x, y),
                                           max(start[k]["margin"] for k in off)))
    if ca is not None and cb is not None and x.family == "batchnorm":
        for key in ("running_mean", "running_var"):
            c = _cmp(key, cb.after.get(key), ca.after.get(key), cb.dtype)
            if c:
                statistics[key] = c
        off = [k for k, c in statistics.items() if not c["passed"]]
        if off:
            moved = {labels[0]: x.statistics_changed, labels[1]: y.statistics_changed}
            said = ", ".join(f"{k} {'moved' if v else 'kept'}" for k, v in moved.items() if v is not None)
            differences.append(_difference("statistics", " and ".join(off), max(statistics[k]["max_error"] for k in off),
                                           f"running statistics after the step differ ({said})",
                                           explain("statistics", "step", x, y),
                                           max(statistics[k]["margin"] for k in off)))
    lines = porting.pairs({labels[0]: _conventions(x, profiles[0], y), labels[1]: _conventions(y, profiles[1], x)})[0]
    for line in lines.settings + lines.remaining:
        kind = next((k for opening, k in PORTING.items() if line.startswith(opening)), None)
        for d in differences:
            if d["kind"] == kind:
                d["fixes"].append({"porting": line})
    differences.sort(key=lambda d: KINDS.index(d["kind"]))
    return {"a": x.path, "b": y.path, "family": x.family, "a_class": x.cls, "b_class": y.cls,
            "settings": {"a": _settings(x), "b": _settings(y)}, **passes, "statistics": statistics,
            "differences": differences, "notes": notes}


def _side(m) -> dict | None:
    return None if m is None else {"mode": m.mode, "measured_by": m.how, "check": m.check, "note": m.note}


def _settings(layer: Layer) -> list:
    return [{"word": s.word, "value": s.value, "native": s.native} for s in layer.settings]


def _difference(kind, what, size, sentence, fixes, margin=None) -> dict:
    return {"kind": kind, "what": what, "size": size, "margin": margin, "sentence": sentence, "fixes": list(fixes)}


def document(sides: dict, observed: tuple, by: str, profiles: tuple, explain) -> dict:
    """The comparison's record: each side (target, flavour, version, step), the pairs and what is unpaired."""
    pairs, only_a, only_b = paired(observed[0].layers, observed[1].layers, by)
    labels, diverged = ("A", "B"), dict.fromkeys(PASSES, False)
    return {"schema": COMPARE, "compare": {label: {**sides[label], "framework_version": o.version, "model_kept": o.kept,
                                             "step": o.step, "batch": o.batch}
                                     for label, o in zip(labels, observed)},
            "mapping": by, "pairs": [compared(x, y, labels, profiles, explain, diverged) for x, y in pairs],
            "only_in_a": only_a, "only_in_b": only_b}


def failing(doc: dict) -> bool:
    return any(p["differences"] for p in doc["pairs"]) or bool(doc["only_in_a"] or doc["only_in_b"])
