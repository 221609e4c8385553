"""Mutation testing: does the conformance suite catch semantic bugs injected into a framework?

    python benchmarks/mutations.py [--flavour F] [--only NAME ...] [--jobs N] [--keep DIR] [--focus]

Runs the suite for flavour F (default torch) once unmutated (must exit 0), then once per mutant of
F's module in benchmarks/mutants/ (the manifest's ``mutants``), each in its own process (with F's
environment, e.g. KERAS_BACKEND, set):

    python -m layerconf.suite --flavour F --results <tmp>/<mutant>.json -q \
        -p benchmarks.mutants.plugin      (LAYERCONF_MUTANT=<mutant>; layerconf.suite.command)

A mutant is killed when pytest exits 1 (tests failed); the records whose outcome is failing
(layerconf.outcomes.Outcome.failing: failed, error, deviation_fixed) are the checks that caught it,
grouped by behaviour id. Column "by": "named" when one of them is a behaviour that benchmarks/mutants/bugs.yaml
names for the bug (caught_by), "other" when the mutant was killed by other checks than those named.
With --focus, each mutant runs first on the checks of its named behaviours only (LAYERCONF_MUTANT_FOCUS=1), and
on the whole suite when that run does not kill it: the killed set is the same as without --focus (a check that
fails alone fails in the whole run), in a fraction of the time; column "by" is then "named" for every mutant the
first run killed.
Exit status: 0 when the baseline passes and every mutant is killed; 1 when a mutant survives (exit 0); 2 when
the baseline fails or a mutant run breaks (exit other than 0 or 1:
collection error, crash, no results).

Bytecode: tox (and this machine) set PYTHONDONTWRITEBYTECODE=1, so every run recompiles PyTorch's
sources (about 12 s of each torch run). Unless --no-bytecode-cache, the runs here share a bytecode cache
in a temporary directory (PYTHONPYCACHEPREFIX), outside the repository; it changes no result.
Draws: every run uses the suite's default --seed (pass `-- --seed N` for another), and the suite keeps
no hypothesis example database, so the counts repeat from run to run.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.mutants import bugs, mutants_of  # noqa: E402
from layerconf import flavours, outcomes, suite  # noqa: E402
from layerconf.outcomes import Outcome  # noqa: E402


def run(framework, name, workdir: Path, bytecode_cache: Path | None, extra_args, focus=False):
    """One suite run, unmutated when ``name`` is None; returns a result dict. ``focus``: see --focus."""
    if focus:
        first = run_once(framework, name, workdir, bytecode_cache, extra_args, focus=True)
        if verdict(first) == "killed":
            return first
    return run_once(framework, name, workdir, bytecode_cache, extra_args)


def run_once(framework, name, workdir: Path, bytecode_cache: Path | None, extra_args, focus=False):
    label = (name or "baseline") + (".focus" if focus else "")
    results, report = workdir / f"{label}.json", workdir / f"{label}.mutant.json"
    env = dict(os.environ, **flavours.environment(framework))
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    plugin = ["-p", "benchmarks.mutants.plugin"] if name else []
    cmd = suite.command(framework, results=results, extra=["-q", *plugin, *extra_args])
    if name:
        env.update(LAYERCONF_MUTANT=name, LAYERCONF_MUTANT_REPORT=str(report), LAYERCONF_MUTANT_FOCUS=str(int(focus)))
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    out = {"name": name or "baseline", "exit": proc.returncode, "wall_s": time.perf_counter() - start,
           "caught": [], "outcomes": "no records", "mutated_calls": None, "tail": ""}
    if results.exists():
        records = json.loads(results.read_text())["records"]
        out["outcomes"] = outcomes.summary(records)
        out["caught"] = [r for r in records if Outcome(r["outcome"]).failing]
    if report.exists():
        out["mutated_calls"] = json.loads(report.read_text())["mutated_calls"]
    if proc.returncode not in (0, 1) or not results.exists():
        out["tail"] = (proc.stdout + proc.stderr)[-3000:]
    return out


def verdict(r, baseline=False):
    if baseline:
        return "ok" if r["exit"] == 0 else "BASELINE FAILS"
    if r["exit"] == 0:
        return "SURVIVED"
    if r["exit"] == 1 and r["caught"]:
        return "killed"
    return f"BROKEN (exit {r['exit']})"


def caught_by(r) -> str:
    """'named' when a failing check is one of the behaviours bugs.yaml names for the mutant, else 'other'."""
    if verdict(r) != "killed":
        return "-"
    return "named" if {c["behaviour"] for c in r["caught"]} & set(bugs()[r["name"]]["caught_by"]) else "other"


def by_behaviour(records):
    counts = Counter(r["behaviour"] for r in records)
    return ", ".join(f"{b} ({n})" for b, n in sorted(counts.items()))


def table(rows):
    """rows: list of tuples of str; first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
        if k == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * max(len(r[-1]) for r in rows[:1]))
    return "\n".join(lines)


def main(argv=None):
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--flavour", "--framework", dest="flavour", default="torch", choices=flavours.names(),
                       help="the flavour whose mutants run (default torch; --framework: its former name)")
    framework = first.parse_known_args(argv)[0].flavour
    os.environ.update(flavours.environment(framework))   # before the mutant module imports it
    mutants = mutants_of(framework)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], parents=[first])
    parser.add_argument("--only", nargs="+", choices=sorted(mutants), help="run these mutants only")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="parallel suite runs (default: 2)")
    parser.add_argument("--keep", type=Path, help="keep every results JSON in this directory")
    parser.add_argument("--focus", action="store_true",
                        help="run each mutant on its named behaviours first, the whole suite only if it survives that")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="respect PYTHONDONTWRITEBYTECODE (slower)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    args = parser.parse_args(argv)

    names = args.only or list(mutants)
    with tempfile.TemporaryDirectory(prefix="layerconf-mutations-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        cache = None if args.no_bytecode_cache else Path(tempfile.gettempdir()) / "layerconf-pycache"
        started = time.perf_counter()
        # The baseline first: it also warms the bytecode cache for the mutant runs.
        base = run(framework, None, workdir, cache, args.pytest_args)
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(lambda n: run(framework, n, workdir, cache, args.pytest_args, args.focus), names))
        elapsed = time.perf_counter() - started

    rows = [("mutant", "exit", "verdict", "by", "mutated calls", "failing checks", "behaviour ids caught (failing checks)")]
    base_counts = base["outcomes"]
    rows.append(("(unmutated)", str(base["exit"]), verdict(base, True), "-", "-", str(len(base["caught"])), base_counts))
    for r in results:
        rows.append((r["name"], str(r["exit"]), verdict(r), caught_by(r), str(r["mutated_calls"]), str(len(r["caught"])),
                     by_behaviour(r["caught"]) or "-"))
    print(table(rows))
    print()
    for r in results:
        print(f"{r['name']}: {bugs()[r['name']]['description']} (expected: {', '.join(bugs()[r['name']]['caught_by'])})")
    print()
    for r in [base, *results]:
        if r["tail"]:
            print(f"--- {r['name']}: exit {r['exit']}, output tail ---\n{r['tail']}\n")
        if r is not base and r["mutated_calls"] == 0:
            print(f"note: {r['name']} never changed a call: the suite does not exercise the mutated code path")

    survived = [r["name"] for r in results if r["exit"] == 0]
    broken = [r["name"] for r in results if r["exit"] not in (0, 1) or (r["exit"] == 1 and not r["caught"])]
    killed = len(results) - len(survived) - len(broken)
    others = [r["name"] for r in results if caught_by(r) == "other"]
    print(f"{killed}/{len(results)} mutants killed ({len(others)} by other checks than those named: {', '.join(others) or 'none'}); "
          f"survived: {', '.join(survived) or 'none'}; "
          f"broken: {', '.join(broken) or 'none'}; baseline exit {base['exit']}; "
          f"{elapsed:.0f} s for {len(results) + 1} runs ({args.jobs} at a time)")
    if base["exit"] != 0 or broken:
        return 2
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
