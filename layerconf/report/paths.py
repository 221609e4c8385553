"""The paths view: where an execution path (a flavour whose manifest names ``path_of``: torch-compile of
torch, flax-linen-jit of flax-linen, ...) differs from the flavour it is a path of, check by check, within one
results document.

A check differs when its outcome or its declared deviation differs. Where both sides pass, the size of the
difference is the change of the margin (worst error / tolerance): the path's largest increase is shown, so a
path that passes closer to its tolerance than its eager execution shows by how much.
"""
from dataclasses import dataclass, field

from layerconf import specs
from layerconf.report.columns import Column


@dataclass(frozen=True)
class CheckDifference:
    check: str
    eager: str            # the eager side's outcome (and deviation), with its worst error
    path: str             # the path's


@dataclass
class PathView:
    path: str             # column labels
    eager: str
    versions: str         # "2.15.0" or "eager 0.12.8, path 0.12.8"
    compared: int         # checks present on both sides
    differences: list[CheckDifference] = field(default_factory=list)
    largest_margin_increase: CheckDifference | None = None   # among checks both sides pass


def path_of(flavour: str) -> str | None:
    """The flavour ``flavour`` is an execution path of, from its manifest (None for an eager flavour, or a
    flavour this layerconf does not know)."""
    try:
        return specs.manifest(flavour).get("path_of")
    except specs.SpecError:
        return None


def _declaration(record: dict) -> tuple | None:
    d = record.get("deviation")
    return d and (d["file"], d["index"])


def _side(record: dict) -> str:
    text = record["outcome"]
    if _declaration(record):
        text += " ({}#{})".format(*_declaration(record))
    if record.get("worst_error") is not None:
        text += f", worst error {record['worst_error']:.3g}"
    return text


def _view(path: Column, eager: Column) -> PathView:
    mine, theirs = ({r["check"]: r for r in c.records} for c in (path, eager))
    common = [check for check in mine if check in theirs]
    versions = path.version if path.version == eager.version else f"eager {eager.version}, path {path.version}"
    view = PathView(path.label, eager.label, versions, len(common))
    increase = 0.0
    for check in common:
        p, e = mine[check], theirs[check]
        if p["outcome"] != e["outcome"] or _declaration(p) != _declaration(e):
            view.differences.append(CheckDifference(check, _side(e), _side(p)))
        elif p["outcome"] == "passed" and p.get("margin") is not None and e.get("margin") is not None \
                and p["margin"] - e["margin"] > increase:
            increase = p["margin"] - e["margin"]
            view.largest_margin_increase = CheckDifference(check, f"margin {e['margin']:.3g}", f"margin {p['margin']:.3g}")
    return view


def views(columns: list[Column]) -> list[PathView]:
    """One view per path column whose eager flavour has a column in the same results document."""
    out = []
    for column in columns:
        eager = path_of(column.flavour)
        match = [c for c in columns if c.flavour == eager and c.document == column.document and c.records]
        if eager and column.records and match:
            out.append(_view(column, match[0]))
    return out


def porting_sentences(view: PathView) -> list[str]:
    """The view as sentences of the porting table's pair (eager, path)."""
    return [f"{d.check}: {view.eager} {d.eager}; {view.path} {d.path}" for d in view.differences]
