"""The findings digest, the report's first section: each distinct finding once, then a scorecard per column.

A finding is a declaration (the records a declared deviation reproduced on, grouped by the declaration's file
and entry) or a failure signature (the failing records grouped by behaviour and failure kind: the first failure's
kind with an error's exception class, or the outcome where the record names no failure). Each finding names the
columns that show it (flavour and version), its size (the worst error and margin its records measured, else the
signature's kind), its link, and its upstream report: a link to a GitHub issue or pull request of a repository of
one of its flavours' frameworks (upstream.yaml, by the modules each manifest imports). A link to source, or a
reason saying 'No upstream report found', is no upstream report.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

from layerconf import specs
from layerconf.outcomes import Outcome
from layerconf.report.columns import Column
from layerconf.results import declared_in, gist

REPOSITORIES = specs.load_yaml(Path(__file__).with_name("upstream.yaml"), "upstream")
ISSUE = re.compile(r"https://github\.com/([^/\s]+/[^/\s]+)/(?:issues|pull)/(\d+)", re.IGNORECASE)
NOT_REPORTED = "no upstream report found"
SCORES = {"passed": (Outcome.PASSED,), "declared": (Outcome.DEVIATION,),
          "failing": (Outcome.ERROR, Outcome.FAILED, Outcome.DEVIATION_FIXED, Outcome.NOT_RUN),
          "not applicable": (Outcome.NOT_APPLICABLE,), "skipped": (Outcome.SKIPPED,)}


@dataclass
class Finding:
    kind: str                     # "failure" or "declared"
    name: str                     # the failure kind, or where the declaration is (file, entry)
    summary: str                  # the declaration's reason, or what the worst record found
    size: str
    link: str | None = None
    upstream: str | None = None   # "owner/name#number" of the upstream report
    records: list = field(default_factory=list)
    columns: list = field(default_factory=list)   # (column index, Column) that show it

    @property
    def behaviours(self) -> list[str]:
        return list(dict.fromkeys(r["behaviour"] for r in self.records))

    @property
    def outcomes(self) -> list[str]:
        return list(dict.fromkeys(r["outcome"] for r in self.records))

    @property
    def shown_by(self) -> str:
        """'torch 2.2.2/2.5.1, torch-compile 2.15.0': each flavour once, with every version that shows it."""
        versions = {}
        for _, column in self.columns:
            versions.setdefault(column.flavour, []).append(column.version)
        return ", ".join(f"{flavour} {'/'.join(dict.fromkeys(v))}" for flavour, v in versions.items())


@dataclass
class Digest:
    failures: list[Finding]
    declared: list[Finding]

    @property
    def findings(self) -> list[Finding]:
        return self.failures + self.declared

    @property
    def reported(self) -> int:
        return sum(f.upstream is not None for f in self.declared)


def failure_kind(record: dict) -> str:
    """'value', 'error RuntimeError', 'no_error', ...: the first failure's kind; the outcome where none is named."""
    first = (record.get("failures") or [None])[0]
    if Outcome(record["outcome"]) not in (Outcome.FAILED, Outcome.ERROR) or first is None:
        return record["outcome"]
    return " ".join(filter(None, (first["kind"], first.get("error_type"))))


def repositories(flavour: str) -> set[str]:
    """The repositories (lower case) of the frameworks ``flavour`` imports; empty for a flavour not in specs/."""
    try:
        modules = specs.manifest(flavour)["imports"]
    except specs.SpecError:
        return set()
    return {repo.lower() for module in modules for repo in REPOSITORIES.get(module, ())}


def upstream(declaration: dict, flavours: list[str]) -> str | None:
    """'owner/name#number' when the declaration's link is an issue or pull request of its flavours' frameworks
    (any GitHub repository where none of them is known), None otherwise."""
    found = ISSUE.fullmatch(declaration.get("link", "").split("#")[0])
    if not found or NOT_REPORTED in declaration.get("reason", "").lower():
        return None
    known = set().union(*map(repositories, flavours))
    return f"{found[1]}#{found[2]}" if not known or found[1].lower() in known else None


def _size(records: list[dict], otherwise: str) -> str:
    errors = [r["worst_error"] for r in records if r.get("worst_error") is not None]
    margins = [r["margin"] for r in records if r.get("margin") is not None]
    if not errors:
        return otherwise
    return f"worst error {max(errors):.2g}" + (f" ({max(margins):.3g}x tol)" if margins else "")


def _signature(declaration: dict) -> str:
    signature = declaration.get("signature") or {"kind": "declared"}
    return " ".join(filter(None, (signature["kind"], signature.get("type"))))


def _first_sentence(text: str, width: int = 200) -> str:
    text = " ".join(str(text).split())
    sentence = re.split(r"(?<=\.)\s+(?=[A-Z])", text, maxsplit=1)[0]
    return sentence if len(sentence) <= width else sentence[: width - 3] + "..."


def build(columns: list[Column]) -> Digest:
    """The digest of the columns' records: failure signatures worst outcome first, then declarations by file and
    entry."""
    groups: dict[tuple, list] = {}
    for index, column in enumerate(columns):
        for record in column.records:
            outcome = Outcome(record["outcome"])
            if outcome.failing:
                key = ("failure", record["behaviour"], failure_kind(record))
            elif outcome is Outcome.DEVIATION and record.get("deviation"):
                declaration = record["deviation"]
                key = ("declared", declaration.get("source") or declaration.get("file", ""),
                       declaration.get("index", -1), declaration.get("check", ""))
            else:
                continue
            groups.setdefault(key, []).append((index, column, record))
    failures, declared = [], []
    for key, members in groups.items():
        records = [r for _, _, r in members]
        shown = list({i: (i, c) for i, c, _ in members}.values())
        if key[0] == "failure":
            worst = max(records, key=lambda r: (r.get("margin") or 0, -Outcome(r["outcome"]).severity))
            finding = Finding("failure", key[2], gist(worst), _size(records, key[2]), records=records, columns=shown)
            failures.append(((min(Outcome(r["outcome"]).severity for r in records), *key[1:]), finding))
        else:
            d = records[0]["deviation"]
            declared.append((key[1:], Finding("declared", declared_in(d), _first_sentence(d.get("reason", "")),
                                              _size(records, _signature(d)), d.get("link"),
                                              upstream(d, [c.flavour for _, c in shown]), records, shown)))
    return Digest(*([finding for _, finding in sorted(found, key=lambda item: item[0])] for found in (failures, declared)))

def scorecard(column: Column) -> dict[str, int]:
    """The column's checks counted under the scorecard's headings (SCORES)."""
    outcomes = [Outcome(r["outcome"]) for r in column.records]
    return {heading: sum(o in members for o in outcomes) for heading, members in SCORES.items()}
