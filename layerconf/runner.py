"""`layerconf run`: the conformance suite once per framework, each in its own process.

Each framework runs as ``python -m layerconf.suite --framework F --results <tmp>/F.json``
(layerconf.suite.command) with its manifest's environment (KERAS_BACKEND for Keras 3), a time limit and
captured output. A
process that crashes, exits with a usage or internal error, writes no valid results, or runs past the
limit is recorded as such (status, exit code, output tail) and the others still run.
"""
import collections
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from layerconf import flavours, results, suite

COMPLETED_EXITS = (0, 1)   # pytest: all passed / some checks failed; anything else is a crash
TAIL_LINES = 80
NON_TTY_EVERY_S = 30
OUTCOME_LINE = re.compile(r" (PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR)\b")
COLLECTED = re.compile(r"collected (\d+) items?")


def available() -> list[str]:
    """Installed flavours, in name order."""
    return [n for n in flavours.names() if flavours.installed(n)]


def pytest_command(framework: str, results_path: Path, seed: int, device: str) -> list[str]:
    return suite.command(framework, results=results_path, seed=seed, device=device,
                         extra=["-v", "-o", "console_output_style=count"])


@dataclass
class Progress:
    """Counts pytest's per-test lines; prints one status line per framework."""

    framework: str
    stream: object = sys.stderr
    total: int | None = None
    done: int = 0
    failed: int = 0
    _last: float = field(default_factory=time.monotonic)

    def line(self, text: str):
        if self.total is None and (m := COLLECTED.search(text)):
            self.total = int(m.group(1))
        elif m := OUTCOME_LINE.search(text):
            self.done += 1
            self.failed += m.group(1) in ("FAILED", "ERROR", "XPASS")
            tty = self.stream.isatty()
            if time.monotonic() - self._last > (0.2 if tty else NON_TTY_EVERY_S):   # a log gets a line now and then
                self._last = time.monotonic()
                self.stream.write("\r" + self.status() if tty else self.status() + "\n")
                self.stream.flush()

    def status(self) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        return f"  {self.framework}: {self.done}{of} checks, {self.failed} failed"


@dataclass
class FrameworkRun:
    framework: str
    status: str                 # completed | crashed | timed_out
    exit_code: int | None
    duration_s: float
    command: list[str]
    environment: dict
    output_tail: str
    document: dict | None       # the validated results, None unless completed

    def entry(self) -> dict:
        """The results document's ``runs`` entry."""
        return {"status": self.status, "exit_code": self.exit_code, "duration_s": round(self.duration_s, 3),
                "command": self.command, "environment": self.environment, "output_tail": self.output_tail}


def run_framework(framework: str, results_path: Path, timeout_s: float, command: list[str],
                  stream=sys.stderr) -> FrameworkRun:
    """Run one framework's process to its end or the time limit; never raises for the process's failure."""
    extra = flavours.environment(framework)
    env = {**os.environ, **extra, "PYTHONUNBUFFERED": "1"}
    progress = Progress(framework, stream)
    tail = collections.deque(maxlen=TAIL_LINES)
    start = time.monotonic()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)

    def read():
        for text in proc.stdout:
            tail.append(text.rstrip("\n"))
            progress.line(text)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        exit_code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        exit_code = None
    reader.join(timeout=5)
    duration = time.monotonic() - start
    if stream.isatty():
        stream.write("\r")
    status, document = _status(exit_code, results_path, tail, timeout_s)
    stream.write(f"{progress.status()}: {status}" + ("" if exit_code is None else f" (exit {exit_code})")
                 + f" in {duration:.0f} s\n")
    return FrameworkRun(framework, status, exit_code, duration, command, extra, "\n".join(tail), document)


def _status(exit_code, results_path: Path, tail, timeout_s: float):
    if exit_code is None:
        tail.append(f"[layerconf run: killed after the time limit of {timeout_s:g} s]")
        return "timed_out", None
    if exit_code not in COMPLETED_EXITS:
        return "crashed", None
    try:
        return "completed", results.read(results_path)
    except results.ResultsError as err:
        tail.append(f"[layerconf run: no valid results: {err}]")
        return "crashed", None


def run_all(frameworks: list[str], timeout_s: float, seed: int = 0, device: str = "cpu",
            stream=sys.stderr) -> tuple[dict, list[FrameworkRun]]:
    """Every framework in turn (its command from ``pytest_command``); returns the merged results
    document (with ``runs``) and the runs."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="layerconf-run-") as tmp:
        for i, name in enumerate(frameworks, start=1):
            stream.write(f"[{i}/{len(frameworks)}] {name}\n")
            path = Path(tmp) / f"{name}.json"
            runs.append(run_framework(name, path, timeout_s, pytest_command(name, path, seed, device), stream))
    documents = [r.document for r in runs if r.document is not None]
    return results.merge(documents, {r.framework: r.entry() for r in runs}, seed), runs
