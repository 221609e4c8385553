"""`layerconf run`: the conformance suite once per flavour, each in its own process, several at a time.

Each flavour runs ``layerconf.suite.command(F, results=<work>/F.json, events=<work>/F.events.jsonl)`` with
its manifest's environment (KERAS_BACKEND for Keras 3), a time limit, and its output in <work>/F.log.
Progress comes from the events the plugin appends as it goes (checks collected, each record), never
from pytest's text. A process that crashes, stops on an internal error or runs past the limit keeps
every record it finished (read back from its events); the checks it collected and never finished are
recorded as not_run. A process that refuses its input (exit 2: a device it does not have, say) stops
the whole run: the input is wrong for every flavour that shares it.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from layerconf import flavours, outcomes, results, schedule, suite
from layerconf.outcomes import Outcome

COMPLETED_EXITS = (0, 1)   # the suite ran to its end: all passed / some checks failed
REFUSED_EXIT = 2           # the suite refused its input before any check (layerconf.suite maps usage errors to 2)
TAIL_LINES = 80
NON_TTY_EVERY_S = 30


def available() -> list[str]:
    """Installed flavours, in name order."""
    return [n for n in flavours.names() if flavours.installed(n)]


def default_jobs(total_memory_bytes: int | None = None) -> int:
    """Flavours at a time: one per core, at most one per 4 GB of memory (a flavour's process peaks at ~3 GB)."""
    if total_memory_bytes is None:
        total_memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(1, min(os.cpu_count() or 1, total_memory_bytes // 4_000_000_000))


@dataclass
class Progress:
    """One flavour's progress, read from its events file as it grows."""

    flavour: str
    events: Path
    total: int | None = None
    counts: dict = field(default_factory=dict)     # Outcome -> number of records
    meta: dict | None = None                      # the flavour's version and environment
    collected: list = field(default_factory=list)  # identities of the checks collected
    records: list = field(default_factory=list)
    _offset: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def poll(self) -> None:
        """Read the events appended since the last poll (a partial last line waits for the next)."""
        with self._lock:
            self._read()

    def _read(self) -> None:
        if not self.events.exists():
            return
        with self.events.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            event = json.loads(line)
            if event["event"] == "flavour":
                self.meta = {"version": event["version"], "environment": event["environment"]}
            elif event["event"] == "collected":
                self.collected, self.total = event["checks"], len(event["checks"])
            elif event["event"] == "record":
                self.records.append(event["record"])
                o = Outcome(event["record"]["outcome"])
                self.counts[o] = self.counts.get(o, 0) + 1

    def status(self) -> str:
        done = sum(self.counts.values())
        of = f"/{self.total}" if self.total is not None else ""
        failing = sum(n for o, n in self.counts.items() if o.failing)
        return f"{self.flavour} {done}{of}" + (f" ({failing} failing)" if failing else "")

    def recovered(self, reason: str) -> dict | None:
        """A results document from the events: every finished record, and a not_run record for each check
        collected but never finished; None when the flavour never got as far as loading its framework."""
        if self.meta is None:
            return None
        finished = {r["check"] for r in self.records}
        missing = [{**c, "version": self.meta["version"], "outcome": Outcome.NOT_RUN.value, "message": reason,
                    "deviation": None, "worst_error": None, "margin": None, "tolerance": None, "quantity": None,
                    "statistics": [], "observed": {}, "failures": []} for c in self.collected if c["check"] not in finished]
        return {"schema": results.SCHEMA_ID, "metadata": results.metadata({self.flavour: self.meta}, 0),
                "records": self.records + missing}


@dataclass
class FlavourRun:
    """One flavour's process: how it ended, and its records."""

    flavour: str
    status: str                 # completed | crashed | timed_out | refused
    exit_code: int | None
    duration_s: float
    command: list[str]
    environment: dict
    output_tail: str
    document: dict | None       # its records (recovered from the events when it did not complete)

    def entry(self) -> dict:
        """The results document's ``runs`` entry."""
        return {"status": self.status, "exit_code": self.exit_code, "duration_s": round(self.duration_s, 3),
                "command": self.command, "environment": self.environment, "output_tail": self.output_tail}

    def summary(self) -> str:
        counts = outcomes.summary(self.document["records"]) if self.document else "no records"
        code = "" if self.exit_code is None else f" (exit {self.exit_code})"
        return f"{self.flavour}: {self.status}{code} in {self.duration_s:.0f} s: {counts}"


def run_flavour(flavour: str, workdir: Path, timeout_s: float, command: list[str], progress: Progress,
                stop: threading.Event) -> FlavourRun:
    """Run one flavour's process to its end, the time limit or ``stop``; never raises for the process's failure."""
    extra = flavours.environment(flavour)
    env = {**os.environ, **extra, "PYTHONUNBUFFERED": "1"}
    log = workdir / f"{flavour}.log"
    start = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        exit_code, timed_out = None, False
        while exit_code is None:
            try:
                exit_code = proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                timed_out = time.monotonic() - start > timeout_s
                if timed_out or stop.is_set():
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    break
    duration = time.monotonic() - start
    progress.poll()
    tail = log.read_text(errors="replace").splitlines()[-TAIL_LINES:]
    status, document = _verdict(exit_code, timed_out, workdir / f"{flavour}.json", progress, tail, timeout_s)
    return FlavourRun(flavour, status, exit_code, duration, command, extra, "\n".join(tail), document)


def _verdict(exit_code, timed_out, results_path: Path, progress: Progress, tail: list, timeout_s: float):
    if exit_code == REFUSED_EXIT:
        return "refused", None
    status = "timed_out" if timed_out else "completed" if exit_code in COMPLETED_EXITS else "crashed"
    if timed_out:
        tail.append(f"[layerconf run: killed after the time limit of {timeout_s:g} s]")
    elif exit_code is None:
        tail.append("[layerconf run: stopped because another flavour refused the input]")
        status = "crashed"
    try:
        return status, results.read(results_path)     # written whole before the end: every record is there
    except results.ResultsError as err:
        if status == "completed":
            status = "crashed"
            tail.append(f"[layerconf run: no valid results: {err}]")
    reason = f"not run: the process {'hit the time limit' if timed_out else 'ended'} before this check"
    return status, progress.recovered(reason)


def run_all(names: list[str], workdir: Path, timeout_s: float, seed: int = 0, device: str = "cpu",
            jobs: int = 1, stream=sys.stderr, options=(), own_options=None) -> list[FlavourRun]:
    """Every flavour, ``jobs`` at a time, the longest expected first (layerconf.schedule), in ``workdir``; the runs in
    the order of ``names`` (refused ones included, with no records).
    ``options``: more suite options every flavour's process gets (--deviations PATH, with its path absolute);
    ``own_options``: flavour -> the options only its process gets (--onnx-backend for onnx-backend)."""
    stop = threading.Event()
    progress = {f: Progress(f, workdir / f"{f}.events.jsonl") for f in names}
    lock = threading.Lock()

    def one(flavour: str) -> FlavourRun:
        if stop.is_set():
            return FlavourRun(flavour, "refused", None, 0.0, [], {}, "not started: another flavour refused the input", None)
        command = suite.command(flavour, results=workdir / f"{flavour}.json", events=progress[flavour].events,
                                seed=seed, device=device, extra=["-q", *options, *(own_options or {}).get(flavour, [])])
        run = run_flavour(flavour, workdir, timeout_s, command, progress[flavour], stop)
        if run.status == "refused":
            stop.set()
        with lock:
            stream.write(("\r\x1b[K" if stream.isatty() else "") + run.summary() + "\n")
            stream.flush()
        return run

    order = schedule.order(names)
    done = threading.Event()
    monitor = threading.Thread(target=_show_progress, args=(progress, done, lock, stream), daemon=True)
    monitor.start()
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            try:
                started = dict(zip(order, pool.map(one, order)))
            finally:   # an interrupt too: each running flavour's process is killed before the pool waits for it
                stop.set()
    finally:
        done.set()
        monitor.join()
    schedule.remember({r.flavour: r.duration_s for r in started.values() if r.status == "completed"})
    return [started[f] for f in names]


def document(runs: list[FlavourRun], seed: int) -> dict:
    """One results document from the runs (none refused): their records, and ``runs`` saying how each ended."""
    return results.merge([r.document for r in runs if r.document is not None], {r.flavour: r.entry() for r in runs}, seed)


def _show_progress(progress: dict, done: threading.Event, lock: threading.Lock, stream) -> None:
    """A status line of the running flavours: redrawn on a terminal, every 30 s in a log."""
    tty = stream.isatty()
    last = time.monotonic()
    while not done.wait(0.5):
        for p in progress.values():
            p.poll()
        running = [p for p in progress.values() if p.events.exists() and p.total is not None
                   and sum(p.counts.values()) < p.total]
        if not running or (not tty and time.monotonic() - last < NON_TTY_EVERY_S):
            continue
        last = time.monotonic()
        with lock:
            line = "  running: " + ", ".join(p.status() for p in running)
            stream.write(f"\r\x1b[K{line}" if tty else line + "\n")
            stream.flush()
