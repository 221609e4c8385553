"""What changed between two results documents, check by check (flavour + check id, any version).

- A regression is a check that was fine (passed, or a declared deviation that reproduced) and now fails,
  errors or did not run (its process crashed or hit the time limit).
- A stale declaration is a deviation that no longer reproduces: good news upstream, but `layerconf run`
  fails on it until its declaration is updated, so diff counts it as failing too.
- A fix is a failing, erroring or deviating check that now passes.
``diff`` exits 1 exactly when the new run has a failing check the old one did not (Outcome.failing), as
``layerconf run`` would on the new run alone. ``compare`` also lists new and removed checks and every
other outcome change, and the runs that did not complete on either side; ``to_markdown`` renders them for
a pull-request comment, regressions first.
"""
from dataclasses import dataclass, field

from layerconf.outcomes import Outcome
from layerconf.results import flavour_of, flavours_in


class NothingInCommon(ValueError):
    """The two documents share no flavour: their checks cannot be compared."""


@dataclass(frozen=True)
class Change:
    flavour: str
    check: str
    old: str | None        # outcome before (None: the check is new)
    new: str | None        # outcome now (None: the check was removed)
    message: str | None    # what the new record says (the old one's for a removed check)


@dataclass
class Changes:
    old_versions: dict                              # flavour -> version, each side
    new_versions: dict
    regressions: list = field(default_factory=list)
    stale_declarations: list = field(default_factory=list)
    fixes: list = field(default_factory=list)
    new: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    changed: list = field(default_factory=list)     # other outcome changes (e.g. passed -> not_applicable)
    incomplete: list = field(default_factory=list)  # (side, flavour, run entry) of runs that did not complete

    @property
    def failing(self) -> bool:
        """The new run fails where the old one did not: diff exits 1."""
        return bool(self.regressions or self.stale_declarations)


def _key(record) -> tuple:
    return flavour_of(record), record["check"]


def _kind(old: Outcome, new: Outcome) -> str | None:
    if old == new:
        return None
    if new is Outcome.DEVIATION_FIXED:
        return "stale_declarations"
    if new.failing and not old.failing:
        return "regressions"
    if new is Outcome.PASSED and (old.failing or old is Outcome.DEVIATION):
        return "fixes"
    return "changed"


def changes(old: dict, new: dict) -> Changes:
    """Changes from ``old`` to ``new`` (validated results documents), each list in check order. Two
    documents with no flavour in common raise NothingInCommon."""
    before, after = ({_key(r): r for r in d["records"]} for d in (old, new))
    names = [set(flavours_in(d)) | set(d.get("runs", {})) for d in (old, new)]
    if not names[0] & names[1]:
        raise NothingInCommon(f"no flavour in common: OLD has {sorted(names[0]) or 'none'}, NEW has "
                              f"{sorted(names[1]) or 'none'}")
    changes = Changes({n: m["version"] for n, m in flavours_in(old).items()},
                      {n: m["version"] for n, m in flavours_in(new).items()})
    changes.incomplete = [(side, name, run) for side, d in (("old", old), ("new", new))
                          for name, run in d.get("runs", {}).items() if run["status"] != "completed"]
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was is None:
            changes.new.append(Change(*key, None, now["outcome"], headline(now)))
        elif now is None:
            changes.removed.append(Change(*key, was["outcome"], None, headline(was)))
        elif kind := _kind(Outcome(was["outcome"]), Outcome(now["outcome"])):
            getattr(changes, kind).append(Change(*key, was["outcome"], now["outcome"], headline(now)))
    return changes


def headline(record: dict) -> str:
    """One line saying what the record found: its first failure's detail, else its message's first line."""
    failures = record.get("failures") or []
    text = failures[0]["detail"] if failures else record.get("message") or ""
    line = next((x for x in str(text).splitlines() if x.strip() and set(x.strip()) - set("^~ ")), "")
    return line.strip()


def _cell(text) -> str:
    return str(text or "").replace("|", "\\|")[:200]


def _section(title: str, items: list, limit: int) -> list[str]:
    if not items:
        return []
    lines = [f"### {title} ({len(items)})", "", "| flavour | check | before | now | message |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {c.flavour} | `{c.check}` | {c.old or '-'} | {c.new or '-'} | {_cell(c.message)} |"
              for c in items[:limit]]
    if len(items) > limit:
        lines.append(f"| ... | {len(items) - limit} more | | | |")
    return lines + [""]


def _incomplete(changes: Changes) -> list[str]:
    if not changes.incomplete:
        return []
    lines = ["### Runs that did not complete", "", "| side | flavour | status | exit | duration (s) |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {side} | {name} | {run['status']} | {run['exit_code']} | {run['duration_s']:.0f} |"
              for side, name, run in changes.incomplete]
    return lines + ["", "Their checks that had not run when the process ended are `not_run`.", ""]


def to_markdown(changes: Changes, limit: int = 50, note: str | None = None) -> str:
    """A pull-request comment: a warning ``note`` where given, versions side by side, runs that did not complete,
    then regressions, stale declarations, fixes, new, removed and other changes."""
    names = list(dict.fromkeys([*changes.old_versions, *changes.new_versions]))
    lines = ["## layerconf: changes between two runs", "", *([f"**Warning**: {note}.", ""] if note else []),
             "| flavour | old | new |", "| --- | --- | --- |"]
    lines += [f"| {n} | {changes.old_versions.get(n, '-')} | {changes.new_versions.get(n, '-')} |" for n in names]
    lines += ["", f"**{len(changes.regressions)} regression(s)**, {len(changes.stale_declarations)} deviation(s) "
                  f"no longer reproducing, {len(changes.fixes)} fix(es), {len(changes.new)} new, "
                  f"{len(changes.removed)} removed, {len(changes.changed)} other change(s).", ""]
    lines += _incomplete(changes)
    for title, items in (("Regressions: fine before, failing now", changes.regressions),
                         ("Declared deviations that no longer reproduce: update their declarations", changes.stale_declarations),
                         ("Fixes", changes.fixes), ("New checks", changes.new), ("Removed checks", changes.removed),
                         ("Other outcome changes", changes.changed)):
        lines += _section(title, items, limit)
    return "\n".join(lines).rstrip() + "\n"
