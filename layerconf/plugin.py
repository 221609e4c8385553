"""The layerconf pytest plugin.

--framework NAME (repeatable; default: every installed framework that can share this process),
--results PATH (one JSON record per check), --seed N (all random draws derive from it), --device.
Conformance tests are marked ``@pytest.mark.behaviour(id)``; each is parametrized over the selected
frameworks and the behaviour's grid, with not-applicable cases visibly skipped and declared
deviations turned into strict expected failures.
"""
import os
import time
import zlib
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings

from layerconf import deviations, flavours, results, specs
from layerconf.applicability import not_applicable
from layerconf.checks import Check

# No shrinking: a failing draw is reported as drawn (parameters, worst element, reproduction blob).
# Shrinking a declared deviation's failure re-ran the layer on dozens of new shapes, each one a new
# compilation under JAX (minutes per case, for an outcome already known).
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True, phases=NO_SHRINK,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("dev", deadline=None, print_blob=True, phases=NO_SHRINK,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

NOT_APPLICABLE = "not applicable: "


@dataclass(frozen=True)
class Case:
    framework: str
    behaviour: specs.Behaviour
    params: dict

    @property
    def check_id(self) -> str:
        return specs.check_id(self.behaviour.id, self.params)

    def __getitem__(self, key):
        return self.params[key]


class Session:
    """Per-run state: selected frameworks, loaded adapters, records, deviations used."""

    def __init__(self, config):
        self.config = config
        names = config.getoption("framework")
        try:
            self.frameworks = list(dict.fromkeys(names)) if names else flavours.default()
            for name in self.frameworks:
                if not flavours.installed(name):
                    raise pytest.UsageError(f"--framework {name}: not installed (needs {', '.join(flavours.manifest(name)['imports'])})")
                if not flavours.shares_process(name):
                    env = " ".join(f"{k}={v}" for k, v in flavours.environment(name).items())
                    raise pytest.UsageError(f"--framework {name}: run it in its own process with {env}")
        except flavours.UnknownFlavour as err:
            raise pytest.UsageError(str(err)) from err
        self.seed = config.getoption("seed")
        self.device = config.getoption("device")
        self.adapters, self.records, self.stale = {}, [], []

    def adapter(self, name):
        if name not in self.adapters:
            self.adapters[name] = flavours.load_adapter(name, self.device)
        return self.adapters[name]

    def frameworks_meta(self):
        return {n: {"version": a.version(), "environment": a.environment()} for n, a in self.adapters.items()}


def pytest_addoption(parser):
    group = parser.getgroup("layerconf")
    group.addoption("--framework", action="append", default=None, metavar="NAME",
                    help=f"framework to check, repeatable; one of {flavours.names()}; "
                         "default: every installed one that can share this process")
    group.addoption("--results", default=None, metavar="PATH", help="write the results JSON here")
    group.addoption("--seed", type=int, default=0, help="base seed for every random draw (default 0)")
    group.addoption("--device", default="cpu", help="device the adapters run on (default cpu)")


def pytest_configure(config):
    config.addinivalue_line("markers", "behaviour(id): a conformance test of the catalogue behaviour id")
    config.layerconf = Session(config)


def pytest_report_header(config):
    session = config.layerconf
    if not session.frameworks:
        return ["layerconf: no framework installed or selected: conformance tests will not run"]
    lines = [f"layerconf: seed {session.seed}, device {session.device}"]
    for name in session.frameworks:
        a = session.adapter(name)
        env = ", ".join(f"{k} {v}" for k, v in a.environment().items())
        lines.append(f"  {name} {a.version()}: {env}")
    return lines


def pytest_generate_tests(metafunc):
    marker = metafunc.definition.get_closest_marker("behaviour")
    if marker is None:
        return
    behaviour = specs.behaviours()[marker.args[0]]
    if not metafunc.config.layerconf.frameworks:
        reason = (f"no framework selected: none of {flavours.names()} is installed and can run in this "
                  "process; use --framework NAME in an environment that has it (tox -e NAME)")
        metafunc.parametrize("case", [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-framework")])
        return
    params = []
    for framework in metafunc.config.layerconf.frameworks:
        profile = specs.profile(framework)
        for values in behaviour.cases():
            reason = not_applicable(behaviour, values, profile)
            marks = [pytest.mark.skip(reason=NOT_APPLICABLE + reason)] if reason else []
            inner = ",".join(f"{k}={v}" for k, v in values.items())
            params.append(pytest.param(Case(framework, behaviour, values), marks=marks,
                                       id=f"{framework}:{inner}" if inner else framework))
    metafunc.parametrize("case", params)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark checks with a declared deviation as strict xfail; note entries that match no catalogue check."""
    session = config.layerconf
    for item in items:
        case = _case(item)
        if case is None:
            continue
        version = session.adapter(case.framework).version()
        for entry in deviations.applying(specs.deviations(case.framework), case.check_id, version):
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"declared deviation: {entry['reason']} ({entry['link']})"))
            item.layerconf_deviation = entry
    catalogue = specs.catalogue_check_ids()
    for framework in session.frameworks:
        for entry in deviations.stale(specs.deviations(framework), catalogue):
            session.stale.append({"framework": framework, **entry})


def _case(item):
    return getattr(item, "callspec", None) and item.callspec.params.get("case")


@pytest.fixture
def adapter(case, request):
    """The case's framework adapter, seeded from --seed and the check id."""
    a = request.config.layerconf.adapter(case.framework)
    a.seed(_derived_seed(request.config.layerconf.seed, case.check_id))
    return a


@pytest.fixture
def profile(case):
    return specs.profile(case.framework)


@pytest.fixture
def rng(case, request):
    """NumPy generator for input draws, fixed by --seed and the check id."""
    return np.random.default_rng(_derived_seed(request.config.layerconf.seed, case.check_id))


@pytest.fixture
def check(case, adapter, request):
    c = Check(case.check_id, case.framework, adapter.version(), case.behaviour.formula)
    request.node.layerconf_check = c
    return c


def _derived_seed(seed: int, check_id: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(check_id.encode())) % 2**31


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    case = _case(item)
    if case is None or not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return
    session = item.config.layerconf
    outcome, message = _outcome(report, call)
    summary = getattr(item, "layerconf_check", Check.NOTHING).summary()
    session.records.append({
        "framework": case.framework,
        "version": session.adapter(case.framework).version(),
        "behaviour": case.behaviour.id,
        "family": case.behaviour.family,
        "params": case.params,
        "check": case.check_id,
        "outcome": outcome,
        "message": message,
        "deviation": getattr(item, "layerconf_deviation", None),
        "duration_s": round(report.duration, 6),
        **summary,
    })


def _outcome(report, call):
    if hasattr(report, "wasxfail"):
        return ("deviation", str(call.excinfo.value) if call.excinfo else None) if report.skipped else ("deviation_fixed", report.wasxfail)
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        if reason.startswith(NOT_APPLICABLE):
            return "not_applicable", reason.removeprefix(NOT_APPLICABLE)
        return "skipped", reason
    if report.passed:
        return "passed", None
    if "XPASS(strict)" in str(report.longrepr):
        return "deviation_fixed", str(report.longrepr)
    if report.when == "call" and call.excinfo is not None and _only_assertions(call.excinfo.value):
        return "failed", str(call.excinfo.value)
    return "error", report.longreprtext[-2000:]


def _only_assertions(exc) -> bool:
    """An assertion, or a group (hypothesis reports several distinct failures so) of assertions only."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(lambda e: not isinstance(e, (AssertionError, BaseExceptionGroup))) is None
    return isinstance(exc, AssertionError)


def pytest_terminal_summary(terminalreporter, config):
    session = config.layerconf
    if not session.records and not session.stale:
        return
    tr = terminalreporter
    tr.section("layerconf")
    for framework in session.frameworks:
        counts = {}
        for r in session.records:
            if r["framework"] == framework:
                counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        tr.write_line(f"{framework}: " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items())))
    for entry in session.stale:
        tr.write_line(f"STALE deviation for {entry['framework']}: {entry['check']!r} matches no check", yellow=True)
    path = config.getoption("results")
    if path:
        meta = results.metadata(session.frameworks_meta(), session.seed, session.stale)
        tr.write_line(f"results: {len(session.records)} records -> {results.write(path, meta, session.records)}")
