"""How long the suite takes, flavour by flavour, against the floor of the framework's own work.

    python benchmarks/speed.py [--flavour F ...] [--cache cold|warm] [--no-floor] [--families] [--main-job]

For each flavour (default: every installed one), in turn on a quiet machine:
1. the suite once, timed by phase (benchmarks/speed_plugin.py): interpreter and pytest start; the framework
   import (loading the adapter); collection; the checks; finishing (results JSON, summary, exit); and the
   process's peak memory (its maximum resident set size);
2. unless --no-floor, the suite again with every framework call the adapters make recorded, and
   benchmarks/floor.py replaying them in a fresh process: the bare script that makes the same framework calls
   on the same inputs, without pytest, the reference or the comparisons. The ratio is the suite's time in
   checks over that floor.
--cache cold (the default) gives every process an empty compilation cache (layerconf.cache), as on a new
machine; --cache warm fills one cache with an unmeasured run of each flavour first, as a second run finds it.
--families adds the time in checks per behaviour family; --main-job also times the main job
(`python -m layerconf run`, every installed flavour, --jobs at its default) from start to end, with the same
cache state, against the sum of the flavours' process times and of their floors, each divided by the jobs.
Run it from a checkout, in an environment with the frameworks (e.g. .tox/run/bin/python).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from layerconf import flavours, runner, suite  # noqa: E402


def timed(command: list[str], env: dict) -> tuple[float, float, int]:
    """(seconds, peak resident memory in MB, exit status) of one process."""
    start = time.time()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.time() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def measure(flavour: str, work: Path, floor: bool, cache: Path | None) -> dict:
    """One flavour's phases, peak memory, records and floor; cache None: each process gets an empty cache."""
    env = {**os.environ, **flavours.environment(flavour), "LAYERCONF_SPEED_OUT": str(work / "phases.json")}
    fresh = lambda name: {**env, "LAYERCONF_CACHE_DIR": str(cache or work / name)}  # noqa: E731
    command = suite.command(flavour, results=work / "results.json", extra=["-q", "-p", "benchmarks.speed_plugin"])
    started = time.time()
    wall, peak_mb, status = timed(command, fresh("cache-suite"))
    e = json.loads((work / "phases.json").read_text())["epochs"]
    row = {"flavour": flavour, "exit": status, "start_s": e["plugin_imported"] - started,
           "import_s": e["imported"] - e["session_start"], "collect_s": e["collected"] - e["imported"],
           "checks_s": e["checks_end"] - e["checks_start"], "finish_s": started + wall - e["checks_end"],
           "process_s": wall, "peak_mb": peak_mb,
           "records": json.loads((work / "results.json").read_text())["records"]}
    if floor:
        log = work / "calls.pickle"
        subprocess.run(command, cwd=ROOT, env={**fresh("cache-recorded"), "LAYERCONF_SPEED_RECORD": str(log)}, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        replay = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "floor.py"), flavour, str(log)], cwd=ROOT,
                                env=fresh("cache-replay"), capture_output=True, text=True, check=True)
        row.update(floor=json.loads(replay.stdout.splitlines()[-1]))
    return row


def table(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(rows[0]), "  ".join("-" * w for w in widths), *map(line, rows[1:])])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flavour", "--framework", dest="flavour", action="append",
                        help="flavour to measure, repeatable (default: every installed one; --framework: its former name)")
    parser.add_argument("--cache", choices=["cold", "warm"], default="cold",
                        help="compilation cache: empty for every process (cold, default), or filled by a first run (warm)")
    parser.add_argument("--no-floor", action="store_true", help="skip the recorded run and its replay")
    parser.add_argument("--families", action="store_true", help="also the time in checks per behaviour family")
    parser.add_argument("--main-job", action="store_true", help="also time `python -m layerconf run` over every installed flavour")
    args = parser.parse_args(argv)
    names = args.flavour or [n for n in runner.available() if not flavours.needed_option(n)]
    shared = Path(tempfile.mkdtemp(prefix="layerconf-speed-cache-")) if args.cache == "warm" else None
    for name in names if shared else ():
        subprocess.run(suite.command(name, extra=["-q"]), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, **flavours.environment(name), "LAYERCONF_CACHE_DIR": str(shared)}, check=False)
    print(f"{os.cpu_count()} CPUs, 1-min load average {os.getloadavg()[0]:.2f} before the first run, "
          f"compilation cache {args.cache}", flush=True)
    rows = [("flavour", "start s", "import s", "collect s", "checks s", "finish s", "process s", "peak MB",
             "floor s", "checks/floor", "outcomes")]
    families, floors, processes = defaultdict(dict), {}, {}
    for name in names:
        with tempfile.TemporaryDirectory(prefix="layerconf-speed-") as tmp:
            r = measure(name, Path(tmp), not args.no_floor, shared)
        floor = r.get("floor", {}).get("replay_s")
        floors[name], processes[name] = floor, r["process_s"]
        counts = defaultdict(int)
        for rec in r["records"]:
            counts[rec["outcome"]] += 1
            families[rec["family"]][name] = families[rec["family"]].get(name, 0.0) + rec["duration_s"]
        rows.append((name, f"{r['start_s']:.1f}", f"{r['import_s']:.1f}", f"{r['collect_s']:.1f}", f"{r['checks_s']:.1f}",
                     f"{r['finish_s']:.1f}", f"{r['process_s']:.1f}", f"{r['peak_mb']:.0f}",
                     "-" if floor is None else f"{floor:.1f}", "-" if floor is None else f"{r['checks_s'] / floor:.2f}",
                     ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) + ("" if r["exit"] in (0, 1) else f" (exit {r['exit']})")))
        print(f"  {name}: {r['process_s']:.1f} s", flush=True)
    print()
    print(table(rows))
    if args.families:
        print()
        print(table([("family (checks s)", *names)] + [(f, *(f"{t.get(n, 0):.1f}" for n in names))
                                                      for f, t in sorted(families.items())]))
    if args.main_job:
        with tempfile.TemporaryDirectory(prefix="layerconf-main-") as tmp:
            env = {**os.environ, "LAYERCONF_CACHE_DIR": str(shared or Path(tmp, "cache"))}
            wall, _, status = timed([sys.executable, "-m", "layerconf", "run", "--output", str(Path(tmp, "out"))], env)
        jobs = runner.default_jobs()
        bounds = f"the flavours' processes / {jobs}: {sum(processes.values()) / jobs:.0f} s"
        if None not in floors.values():
            bounds += f"; their floors / {jobs}: {sum(floors.values()) / jobs:.0f} s"
        print(f"\nmain job (python -m layerconf run, {jobs} at a time): {wall:.0f} s, exit {status} ({bounds})")
    if shared:
        shutil.rmtree(shared, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
