"""The audit as a JSON document (``--json``) and as a plain-text table for the terminal, made from the document."""
import textwrap

from layerconf.audit.document import AUDIT
from layerconf.audit.neutral import spelled
from layerconf.audit.records import PASSES, Layer, Observed, Setting


def _pass(layer: Layer, name: str) -> dict:
    call, measured = layer.calls.get(name), layer.measured[name]
    return {"mode": measured.mode, "measured_by": measured.how, "flag": None if call is None else call.flag,
            "batch": None if call is None else call.batch, "calls": 0 if call is None else call.calls,
            "check": measured.check, "note": measured.note}


def document(flavour: str, target: str, observed: Observed, hazards: list[dict]) -> dict:
    """The audit's record: what ran, each layer, each hazard with its fix."""
    return {
        "schema": AUDIT, "flavour": flavour, "target": target, "framework_version": observed.version,
        "model_kept": observed.kept, "step": observed.step, "batch": observed.batch,
        "layers": [{"path": layer.path, "class": layer.cls, "family": layer.family, "kind": layer.kind,
                    "layout": layer.layout, "dtype": layer.dtype, "frozen": layer.frozen, "left_in": layer.left_in,
                    "settings": [{"word": s.word, "value": s.value, "native": s.native} for s in layer.settings],
                    "weights_changed": layer.weights_changed, "statistics_changed": layer.statistics_changed,
                    **{name: _pass(layer, name) for name in PASSES}}
                   for layer in observed.layers],
        "hazards": hazards,
    }


def failing(doc: dict) -> bool:
    """A hazard found, or an output off the reference."""
    return bool(doc["hazards"]) or any(layer[p]["check"] and not layer[p]["check"]["passed"]
                                       for layer in doc["layers"] for p in PASSES)


COLUMNS = ("layer", "class", "frozen", "step", "stats", "weights", "ref", "inference", "ref", "settings")
WORDS = {True: "yes", False: "no", None: "-"}
MOVED, CHANGED = {True: "moved", False: "kept", None: "-"}, {True: "changed", False: "kept", None: "-"}
LEGEND = ("mode: (output) from the output against the reference in each mode, (statistics) from the running "
          "statistics, (flag) the training flag of the call; ref: the check against the reference in that mode "
          "(margin: worst error / tolerance, ok below 1)")


def mode_text(layer: dict, p: str) -> str:
    """The layer's mode in pass ``p`` and how it was measured: 'training (output)'."""
    return f"{layer[p]['mode']} ({layer[p]['measured_by']})" if layer[p]["mode"] else "not called"


def ref_text(layer: dict, p: str) -> str:
    """The check against the reference in pass ``p``: 'ok 0.0094' (the margin), 'FAIL 3.2', '-' (none)."""
    check = layer[p]["check"]
    return "-" if check is None else f"{'ok' if check['passed'] else 'FAIL'} {check['margin']:.2g}"


def settings_text(settings: list[dict]) -> str:
    """A layer's settings as the document lists them: 'decay 0.9 (momentum=0.1), eps 1e-05'."""
    return ", ".join(spelled_dict(s) for s in settings)


def cells(layer: dict) -> list[str]:
    """The layer's row under COLUMNS."""
    return [layer["path"], layer["class"].rsplit(".", 1)[-1], WORDS[layer["frozen"]], mode_text(layer, "step"),
            MOVED[layer["statistics_changed"]], CHANGED[layer["weights_changed"]], ref_text(layer, "step"),
            mode_text(layer, "inference"), ref_text(layer, "inference"), settings_text(layer["settings"])]


def spelled_dict(setting: dict) -> str:
    return spelled(Setting(setting["word"], setting["value"], setting["native"]))


def sentence(hazard: dict) -> str:
    """The hazard said of its first layer, for all of them."""
    return hazard["layers"][0]["sentence"] + ("" if len(hazard["layers"]) == 1 else " (and likewise the others)")


def table(doc: dict) -> str:
    """The terminal report: what ran, one row per layer, then the hazards, each with its layers and its fix."""
    lines = [f"layerconf audit {doc['target']} (flavour {doc['flavour']}, {doc['framework_version']})",
             f"model:  {doc['model_kept']}", f"step:   {doc['step']}", f"batch:  {doc['batch']}", ""]
    rows = [list(COLUMNS)] + [cells(layer) for layer in doc["layers"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows]
    if not doc["layers"]:
        lines.append("(no training-flag layer found)")
    lines += ["", LEGEND, ""]
    if not doc["hazards"]:
        lines.append("hazards: none")
    for i, hazard in enumerate(doc["hazards"], 1):
        paths = ", ".join(entry["path"] for entry in hazard["layers"])
        lines.append(f"hazard {i}: {hazard['title']} ({len(hazard['layers'])} layer{'s' * (len(hazard['layers']) > 1)})")
        lines += textwrap.wrap(f"layers: {paths}", 116, initial_indent="  ", subsequent_indent="    ")
        lines += textwrap.wrap(sentence(hazard), 116, initial_indent="  ", subsequent_indent="    ")
        lines += textwrap.wrap(f"fix: {hazard['fix']}", 116, initial_indent="  ", subsequent_indent="    ")
    return "\n".join(lines) + "\n"
