"""The conformance matrix: behaviour x column, one cell summarising the behaviour's checks.

A cell's status is the worst of its checks' outcomes (Outcome.severity); a failing cell carries its worst
check (largest margin).
"""
from dataclasses import dataclass, field

from layerconf import specs
from layerconf.outcomes import Outcome

MISSING = "missing"   # a cell with no record at all (the column never ran the behaviour)


@dataclass
class Cell:
    status: str                                   # an outcome's value, or MISSING
    counts: dict = field(default_factory=dict)    # outcome -> number of checks
    worst: dict | None = None                     # the failing record with the largest margin
    links: list = field(default_factory=list)     # deviation links

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def text(self) -> str:
        """'pass 16, 12 n/a', 'fail 2/16, worst error 1.2e-03 (4.1x tol, y)', 'deviation 1/2', 'n/a'."""
        if self.status == MISSING:
            return "missing"
        status = Outcome(self.status)
        if not status.ran:
            return status.short
        shown = self.counts.get(self.status, 0)
        absent = sum(n for o, n in self.counts.items() if not Outcome(o).ran)
        ran = self.total - absent
        text = status.short + (f" {shown}" if shown == ran else f" {shown}/{ran}")
        if absent:
            text += f", {absent} n/a"
        if self.worst is not None:
            text += ", " + worst_text(self.worst)
        return text


def worst_text(record: dict) -> str:
    if record.get("worst_error") is not None and record.get("margin") is not None:
        return f"worst error {record['worst_error']:.2g} ({record['margin']:.3g}x tol, {record['quantity']})"
    first = (record.get("message") or "").strip().splitlines()
    return first[-1].strip()[:120] if first else "no message"


@dataclass
class Row:
    behaviour: str
    family: str
    sentence: str
    cells: list


def cell(records: list[dict]) -> Cell:
    if not records:
        return Cell(MISSING)
    counts = {}
    for r in records:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    status = min(counts, key=lambda o: Outcome(o).severity)
    failing = [r for r in records if r["outcome"] in (Outcome.FAILED, Outcome.ERROR)]
    worst = max(failing, key=lambda r: -1 if r.get("margin") is None else r["margin"], default=None)
    links = sorted({r["deviation"]["link"] for r in records if r.get("deviation")})
    return Cell(status, counts, worst, links)


def layer(family: str) -> str:
    return family.split(".")[0]


def heading(family: str) -> str:
    """The heading of the family's layer, from the catalogue (specs/layers.yaml); a layer it does not name is
    headed by its own word."""
    return specs.layers().get(layer(family), layer(family))


def rows(columns: list) -> list[Row]:
    """One row per behaviour seen in any column, in catalogue order (unknown behaviours last), grouped by layer
    (the catalogue's layers first, in specs/layers.yaml's order, any other after them) and within a layer by family."""
    catalogue = specs.behaviours()
    seen = {r["behaviour"]: r["family"] for c in columns for r in c.records}
    order = [b for b in catalogue if b in seen] + sorted(b for b in seen if b not in catalogue)
    families = list(dict.fromkeys(seen[b] for b in order))
    layers = list(dict.fromkeys([*specs.layers(), *(layer(f) for f in families)]))
    order.sort(key=lambda b: (layers.index(layer(seen[b])), families.index(seen[b])))
    return [Row(b, seen[b], catalogue[b].sentence if b in catalogue else "",
                [cell([r for r in c.records if r["behaviour"] == b]) for c in columns]) for b in order]


def failures(columns: list) -> list[tuple]:
    """(column label, record) for every failed or erroring check, worst margin first within a column."""
    out = []
    for c in columns:
        bad = [r for r in c.records if Outcome(r["outcome"]).failing]
        out += [(c.label, r) for r in sorted(bad, key=lambda r: -(r.get("margin") or 0))]
    return out
