"""Audits of users' models (``layerconf audit --json`` documents) in the report and on the audit's own page
(``layerconf audit --html``): the templates' filters and names, each a view of the document's own fields, in the
words the terminal table uses (layerconf.audit.text, layerconf.audit.compare_text)."""
from layerconf.audit import compare, compare_text, document, text
from layerconf.audit.records import PASSES


def hazards_of(doc: dict) -> dict[str, list[int]]:
    """Layer path -> the numbers (1, 2, ...) of the audit's hazards that name it."""
    out = {}
    for n, hazard in enumerate(doc["hazards"], 1):
        for entry in hazard["layers"]:
            out.setdefault(entry["path"], []).append(n)
    return out


def differences_of(doc: dict) -> list[list[int]]:
    """Per pair of a comparison, the numbers of its differences (numbered over the pairs, as in the terminal)."""
    out, n = [], 0
    for pair in doc["pairs"]:
        out.append(list(range(n + 1, n + 1 + len(pair["differences"]))))
        n += len(pair["differences"])
    return out


def off_reference(doc: dict) -> int:
    """An audit's checks against the reference that failed (layer x pass)."""
    return sum(1 for layer in doc["layers"] for p in PASSES if layer[p]["check"] and not layer[p]["check"]["passed"])


def failing(doc: dict) -> bool:
    """What makes ``layerconf audit`` exit 1: a hazard or a check off the reference (an audit), a difference or an
    unpaired layer (a comparison)."""
    return text.failing(doc) if document.kind(doc) == "audit" else compare.failing(doc)


def summary(doc: dict) -> str:
    """The document's outcome in one line."""
    if document.kind(doc) == "audit":
        flagged = len(hazards_of(doc))
        off = off_reference(doc)
        return (f"{len(doc['layers'])} training-flag layer(s); "
                + (f"{len(doc['hazards'])} hazard(s) on {flagged} layer(s)" if doc["hazards"] else "no hazard") + "; "
                + (f"{off} check(s) off the reference" if off else "every check on the reference"))
    found = compare_text.differences(doc)
    unpaired = len(doc["only_in_a"]) + len(doc["only_in_b"])
    return (f"{len(doc['pairs'])} pair(s) of layers (by {doc['mapping']}); "
            + (f"{len(found)} difference(s) in {len({id(p) for p, _ in found})} pair(s)" if found else "no difference")
            + (f"; {unpaired} layer(s) unpaired" if unpaired else ""))


FILTERS = {"audit_kind": document.kind, "audit_failing": failing, "audit_summary": summary, "hazards_of": hazards_of,
           "layer_mode": text.mode_text, "layer_ref": text.ref_text, "layer_cells": text.cells,
           "layer_settings": text.settings_text, "hazard_sentence": text.sentence,
           "pair_cells": compare_text.cells, "side_mode": compare_text.mode_text, "size": compare_text.size_text,
           "worst_statistic": compare_text.worst_statistic, "class_name": compare_text.class_text,
           "differences": compare_text.differences, "differences_of": differences_of,
           "difference_heading": compare_text.heading, "fix": compare_text.fix_text}
GLOBALS = {"audit_columns": text.COLUMNS, "audit_legend": text.LEGEND, "compare_columns": compare_text.COLUMNS,
           "compare_legend": compare_text.LEGEND, "yes_no": text.WORDS, "moved": text.MOVED, "changed": text.CHANGED}
