"""A repro for every shipped declaration of the flavours with generators (layerconf.repro.FRAMEWORKS), written to
docs/repros/<flavour>/<file>-<entry>.py with an index, docs/repros/README.md:
``python -m layerconf.repro.declared [DIR]``. A declaration covers cases; its repro is of the first case of its
grid that applies to the flavour. One no generator covers is listed in the index, with the reason.
"""
import sys
from dataclasses import dataclass
from pathlib import Path

from layerconf import deviations, specs
from layerconf.applicability import not_applicable
from layerconf.report.digest import upstream
from layerconf.repro import FRAMEWORKS, ReproError, checked, script, skipped

ROOT = Path("docs/repros")


@dataclass(frozen=True)
class Entry:
    flavour: str
    declaration: deviations.Declaration
    check_id: str
    missing: str | None     # why no generator covers it (ReproError's message); None: covered

    @property
    def path(self) -> Path:
        return Path(self.flavour) / f"{self.declaration.file}-{self.declaration.index}.py"


def representative(d: deviations.Declaration, flavour: str) -> str:
    """The check id of the first case of the declaration's grid that applies to ``flavour`` (and that its test does
    not skip there: repro.skipped)."""
    catalogue, profile = specs.behaviours(), specs.profile(flavour)
    return next(specs.check_id(b, case) for b in d.behaviours for case in catalogue[b].cases()
                if all(case.get(k) in deviations._values(v) for k, v in d.where.items())
                and not not_applicable(catalogue[b], case, profile) and not skipped(case, profile))


def entries() -> list[Entry]:
    """Every shipped declaration of each flavour in FRAMEWORKS, with its representative check."""
    out = []
    for flavour in FRAMEWORKS:
        for d in deviations.declarations(flavour):
            if d.flavours is None or flavour in d.flavours:
                check_id = representative(d, flavour)
                try:
                    checked(check_id, flavour)
                    out.append(Entry(flavour, d, check_id, None))
                except ReproError as err:
                    out.append(Entry(flavour, d, check_id, str(err)))
    return out


def index(found: list[Entry]) -> str:
    """docs/repros/README.md: each declaration, its check, its script (or why none), and its upstream report."""
    lines = ["# Repros of the declared deviations", "",
             "Written by `python -m layerconf.repro.declared` (`layerconf repro CHECK_ID --flavour F` writes one); each "
             "script imports only the framework and NumPy and exits 1 while the deviation reproduces. Upstream: the "
             "issue or pull request the declaration links, or none (ready to file).", "",
             "| flavour | declaration | versions | check | script | upstream |", "| --- | --- | --- | --- | --- | --- |"]
    for e in found:
        d = e.declaration
        report = upstream(d.record(), [e.flavour]) or "none"
        where = f"[{e.path.name}]({e.path.as_posix()})" if e.missing is None else "no generator yet"
        devices = f" ({', '.join(d.devices)} only)" if d.devices else ""
        lines.append(f"| {e.flavour} | {d.path}, entry {d.index} | `{d.versions}`{devices} | `{e.check_id}` | {where} "
                     f"| {report} |")
    return "\n".join(lines) + "\n"


def write(root: Path = ROOT) -> list[Entry]:
    """Write every covered declaration's script and the index under ``root``; the entries."""
    found = entries()
    for e in found:
        if e.missing is None:
            (root / e.path).parent.mkdir(parents=True, exist_ok=True)
            (root / e.path).write_text(script(e.check_id, e.flavour, declared=e.declaration))
    (root / "README.md").write_text(index(found))
    return found


if __name__ == "__main__":
    done = write(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
    print(f"{sum(e.missing is None for e in done)} repros, {sum(e.missing is not None for e in done)} declarations "
          "without a generator")
