"""Timing of the conformance suite: time per behaviour family, test total, and session wall time.

    /work/venvs/torch/bin/python benchmarks/timing.py [--framework torch] [--repeat N] [--bytecode-cache] [--target 30]

Runs ``python -m layerconf.suite --framework NAME --results <tmp> -q`` (layerconf.suite.command)
in a subprocess with benchmarks/timing_plugin.py loaded, then prints
- per behaviour family: checks, the sum of the records' ``duration_s`` (the test call), and the
  setup + teardown time of the same tests (fixtures, hypothesis setup);
- the slowest behaviours;
- the phases of the process: interpreter start and pytest import (process start to session start),
  framework import (the adapters, loaded at session start), collection (test modules, parametrization,
  deviations), the test loop, and process exit (results file, terminal summary);
- the session wall time excluding interpreter start and imports (session start to session finish,
  less the framework import), compared with --target (default 30 s); exit 1 when it is over.

PYTHONDONTWRITEBYTECODE=1 (tox sets it; so does this machine) makes every run recompile the
framework's sources; --bytecode-cache instead uses a bytecode cache in a temporary directory
(PYTHONPYCACHEPREFIX, outside the repository), warmed by one unmeasured run first if it is empty.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from layerconf import flavours, suite  # noqa: E402


def run_suite(framework, workdir: Path, bytecode_cache: Path | None, extra):
    results, timing = workdir / "results.json", workdir / "timing.json"
    env = dict(os.environ, LAYERCONF_TIMING_OUT=str(timing), **flavours.environment(framework))
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    cmd = suite.command(framework, results=results, extra=["-q", "-p", "benchmarks.timing_plugin", *extra])
    started = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    ended = time.time()
    if not results.exists() or not timing.exists():
        sys.exit(f"the suite did not finish (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    return proc, started, ended, json.loads(results.read_text()), json.loads(timing.read_text())


def table(rows, right=()):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    fmt = lambda row: "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)  # noqa: E731
                                for i, (c, w) in enumerate(zip(row, widths))).rstrip()
    return "\n".join([fmt(rows[0]), "  ".join("-" * w for w in widths), *map(fmt, rows[1:])])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", default="torch")
    parser.add_argument("--bytecode-cache", action="store_true", help="cache bytecode in a temporary directory")
    parser.add_argument("--target", type=float, default=30.0, help="seconds allowed for the session (default 30)")
    parser.add_argument("--slowest", type=int, default=10, help="behaviours to list (default 10)")
    parser.add_argument("--repeat", type=int, default=1, help="runs; the tables show the median run (default 1)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    args = parser.parse_args(argv)

    cache = Path(tempfile.gettempdir()) / "layerconf-pycache" if args.bytecode_cache else None
    with tempfile.TemporaryDirectory(prefix="layerconf-timing-") as tmp:
        if cache and not cache.exists():
            print(f"warming the bytecode cache {cache} (unmeasured run) ...", flush=True)
            run_suite(args.framework, Path(tmp), cache, args.pytest_args)
        load = os.getloadavg()[0]
        runs = [run_suite(args.framework, Path(tmp), cache, args.pytest_args) for _ in range(max(1, args.repeat))]
    net = lambda run: run[4]["session_s"] - sum(run[4]["framework_import_s"].values())  # noqa: E731
    runs.sort(key=net)
    proc, started, ended, results, timing = runs[len(runs) // 2]

    records = results["records"]
    fam = defaultdict(lambda: {"checks": 0, "call": 0.0, "other": 0.0, "outcomes": defaultdict(int)})
    for r in records:
        f = fam[r["family"]]
        f["checks"] += 1
        f["call"] += r["duration_s"]
        f["outcomes"][r["outcome"]] += 1
    behaviours = defaultdict(lambda: [0, 0.0])
    for r in records:
        behaviours[r["behaviour"]][0] += 1
        behaviours[r["behaviour"]][1] += r["duration_s"]
    for t in timing["tests"]:
        if t["family"]:
            fam[t["family"]]["other"] += t.get("setup", 0.0) + t.get("teardown", 0.0)
    total_call = sum(r["duration_s"] for r in records)
    total_other = sum(f["other"] for f in fam.values())
    all_phases = sum(t.get("setup", 0) + t.get("call", 0) + t.get("teardown", 0) for t in timing["tests"])

    meta = results["metadata"]["frameworks"].get(args.framework, {})
    print(f"{args.framework} {meta.get('version')} ({meta.get('environment')}), "
          f"{os.cpu_count()} CPUs (1-min load average {load:.2f} before the run), pytest exit {proc.returncode}, "
          f"bytecode {'cached in ' + str(cache) if cache else 'not cached'} "
          f"(PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')})")
    print()
    rows = [("family", "checks", "call s (duration_s)", "setup+teardown s", "share of calls", "outcomes")]
    for name, f in sorted(fam.items(), key=lambda kv: -kv[1]["call"]):
        rows.append((name, f["checks"], f"{f['call']:.3f}", f"{f['other']:.3f}", f"{100 * f['call'] / total_call:.1f} %",
                     ", ".join(f"{n} {o}" for o, n in sorted(f["outcomes"].items()))))
    rows.append(("total", len(records), f"{total_call:.3f}", f"{total_other:.3f}", "100.0 %", ""))
    print(table(rows, right={1, 2, 3, 4}))
    print()
    rows = [("slowest behaviours", "checks", "call s")]
    for name, (n, s) in sorted(behaviours.items(), key=lambda kv: -kv[1][1])[: args.slowest]:
        rows.append((name, n, f"{s:.3f}"))
    print(table(rows, right={1, 2}))
    print()

    ep = timing["epochs"]
    imports = sum(timing["framework_import_s"].values())
    startup = ep["session_start"] - started
    collection = timing["collection_s"] - imports
    loop = timing["run_s"]
    exiting = ended - ep["session_finish"]
    session_net = timing["session_s"] - imports
    rows = [("phase", "seconds")]
    rows.append(("interpreter start + pytest, plugin, conftest imports", f"{startup:.2f}"))
    rows += [(f"framework import: {n} (adapter load)", f"{s:.2f}") for n, s in timing["framework_import_s"].items()]
    rows.append(("collection (test modules, parametrization, deviations)", f"{collection:.2f}"))
    rows.append((f"test loop (sum of setup+call+teardown: {all_phases:.2f})", f"{loop:.2f}"))
    rows.append(("results JSON, terminal summary, process exit", f"{exiting:.2f}"))
    rows.append(("process wall time", f"{ended - started:.2f}"))
    print(table(rows, right={1}))
    print()
    if len(runs) > 1:
        print(f"session wall time without imports over {len(runs)} runs: " + ", ".join(f"{net(r):.2f}" for r in runs) + " s (median shown)")
    print(f"sum of test durations (records' duration_s): {total_call:.2f} s")
    verdict = "PASS" if session_net < args.target else "OVER"
    print(f"session wall time excluding interpreter start and imports "
          f"(collection + test loop): {session_net:.2f} s  -> {verdict} (target < {args.target:g} s)")
    return 0 if session_net < args.target else 1


if __name__ == "__main__":
    sys.exit(main())
