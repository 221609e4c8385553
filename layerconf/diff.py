"""What changed between two results documents, check by check (framework + check id, any version).

A regression is a check that was fine (passed, or a declared deviation that reproduced) and now fails
or errors; a fix is a failing, erroring or deviating check that now passes, or a deviation that no
longer reproduces. ``compare`` returns them with the new and removed checks and every other outcome
change; ``to_markdown`` renders them for a pull-request comment, regressions first.
"""
from dataclasses import dataclass, field

FINE = {"passed", "deviation"}
FAILING = {"failed", "error"}


@dataclass(frozen=True)
class Change:
    framework: str
    check: str
    old: str | None        # outcome before (None: the check is new)
    new: str | None        # outcome now (None: the check was removed)
    message: str | None    # the new record's message (or the old one's for a removed check)


@dataclass
class Changes:
    old_versions: dict                              # framework -> version, each side
    new_versions: dict
    regressions: list = field(default_factory=list)
    fixes: list = field(default_factory=list)
    new: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    changed: list = field(default_factory=list)     # other outcome changes (e.g. passed -> not_applicable)


def _key(record) -> tuple:
    return record["framework"], record["check"]


def _kind(old: str, new: str) -> str | None:
    if old == new:
        return None
    if old in FINE and new in FAILING:
        return "regressions"
    if (new == "passed" and old in FAILING | {"deviation"}) or (old, new) == ("deviation", "deviation_fixed"):
        return "fixes"
    return "changed"


def compare(old: dict, new: dict) -> Changes:
    """Changes from ``old`` to ``new`` (validated results documents), each list in check order."""
    before, after = ({_key(r): r for r in d["records"]} for d in (old, new))
    changes = Changes({n: m["version"] for n, m in old["metadata"]["frameworks"].items()},
                      {n: m["version"] for n, m in new["metadata"]["frameworks"].items()})
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was is None:
            changes.new.append(Change(*key, None, now["outcome"], now.get("message")))
        elif now is None:
            changes.removed.append(Change(*key, was["outcome"], None, was.get("message")))
        elif kind := _kind(was["outcome"], now["outcome"]):
            getattr(changes, kind).append(Change(*key, was["outcome"], now["outcome"], now.get("message")))
    return changes


def _first_line(text) -> str:
    line = next((x for x in str(text or "").splitlines() if x.strip()), "")
    return line.strip().replace("|", "\\|")[:200]


def _section(title: str, items: list, limit: int) -> list[str]:
    if not items:
        return []
    lines = [f"### {title} ({len(items)})", "", "| framework | check | before | now | message |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {c.framework} | `{c.check}` | {c.old or '-'} | {c.new or '-'} | {_first_line(c.message)} |"
              for c in items[:limit]]
    if len(items) > limit:
        lines.append(f"| ... | {len(items) - limit} more | | | |")
    return lines + [""]


def to_markdown(changes: Changes, limit: int = 50) -> str:
    """A pull-request comment: versions side by side, then regressions, fixes, new, removed, other changes."""
    names = list(dict.fromkeys([*changes.old_versions, *changes.new_versions]))
    lines = ["## layerconf: changes between two runs", "", "| framework | old | new |", "| --- | --- | --- |"]
    lines += [f"| {n} | {changes.old_versions.get(n, '-')} | {changes.new_versions.get(n, '-')} |" for n in names]
    lines += ["", f"**{len(changes.regressions)} regression(s)**, {len(changes.fixes)} fix(es), "
                  f"{len(changes.new)} new, {len(changes.removed)} removed, {len(changes.changed)} other change(s).", ""]
    for title, items in (("Regressions: passed before, fail now", changes.regressions), ("Fixes", changes.fixes),
                         ("New checks", changes.new), ("Removed checks", changes.removed),
                         ("Other outcome changes", changes.changed)):
        lines += _section(title, items, limit)
    return "\n".join(lines).rstrip() + "\n"
