"""pytest plugin for benchmarks/timing.py: wall-clock phases of one session and per-test phase times.

Loaded with ``-p benchmarks.timing_plugin``; writes JSON to the path in LAYERCONF_TIMING_OUT at the
end of the session. Times are ``time.time()`` epochs (comparable with the parent process) and
``perf_counter`` differences. The framework adapters are loaded at session start (they would be
loaded lazily during collection anyway) so that importing the framework is timed on its own.
"""
import json
import os
import time

import pytest

_t = {"plugin_imported": time.time()}
_phases = {}        # nodeid -> {"setup": s, "call": s, "teardown": s}
_families = {}      # nodeid -> (behaviour id, family)
_perf = {}


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    _t["session_start"] = time.time()
    _perf["start"] = time.perf_counter()
    layerconf = getattr(session.config, "layerconf", None)
    imports = {}
    for name in getattr(layerconf, "frameworks", []):
        t0 = time.perf_counter()
        layerconf.adapter(name)
        imports[name] = time.perf_counter() - t0
    _t["framework_import_s"] = imports


def pytest_collection_finish(session):
    _perf["collected"] = time.perf_counter()
    for item in session.items:
        case = getattr(item, "callspec", None) and item.callspec.params.get("case")
        if case is not None:
            _families[item.nodeid] = (case.behaviour.id, case.behaviour.family)


def pytest_runtest_logreport(report):
    _phases.setdefault(report.nodeid, {})[report.when] = report.duration


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    _perf["finish"] = time.perf_counter()
    _t["session_finish"] = time.time()
    path = os.environ.get("LAYERCONF_TIMING_OUT")
    if not path:
        return
    tests = [{"nodeid": n, "behaviour": _families.get(n, (None, None))[0], "family": _families.get(n, (None, None))[1], **p}
             for n, p in _phases.items()]
    with open(path, "w") as f:
        json.dump({
            "epochs": _t,
            "framework_import_s": _t.get("framework_import_s", {}),
            "collection_s": _perf["collected"] - _perf["start"] if "collected" in _perf else None,
            "run_s": _perf["finish"] - _perf["collected"] if "collected" in _perf else None,
            "session_s": _perf["finish"] - _perf["start"],
            "exitstatus": int(exitstatus),
            "tests": tests,
        }, f)
