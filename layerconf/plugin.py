"""The layerconf pytest plugin (registered by the package's entry point; the repository's conftest.py names it).

Options: --flavour NAME (repeatable; default: every installed flavour that can share this process; --framework,
its former name, is the same option),
--results PATH (the results document at the end), --events PATH (one JSON line per event as it happens:
the flavours' versions, the checks collected, each check's record), --seed N (every draw derives from
it), --device, --deviations PATH (repeatable: the user's declarations, on top of the shipped ones or, with
--no-shipped-deviations, instead of them), --junit PATH and --summary PATH (JUnit XML and a Markdown summary
of the records at the end: layerconf.ci_files), --onnx-backend MODULE:BACKEND (the Backend the onnx-backend
flavour runs: layerconf.onnx_backends).

A conformance test is marked ``@pytest.mark.behaviour(id)`` and asks for the ``case`` fixture; it is
parametrized over the selected flavours and the behaviour's grid. A case the flavour cannot express is
not applicable (data on the case, shown as a skip with its reason). A case with a declared deviation
gets a soft check: every failure is collected and judged against the declaration's signature
(layerconf.deviations.judge), so a failure outside the signature fails.
"""
import json
import sys
from dataclasses import dataclass

import hypothesis
import numpy as np
import pytest

from layerconf import ci_files, deviations, flavours, onnx_backends, output, results, seeds, specs
from layerconf.adapters.base import DeviceUnavailable
from layerconf.applicability import not_applicable
from layerconf.checks import Check, CheckFailure, Failure
from layerconf.outcomes import Outcome

if sys.version_info < (3, 11):   # hypothesis brings the backport there
    from exceptiongroup import BaseExceptionGroup


@dataclass(frozen=True)
class Case:
    flavour: str
    behaviour: specs.Behaviour
    params: dict
    not_applicable: str | None = None   # why the flavour cannot express the case

    @property
    def check_id(self) -> str:
        return specs.check_id(self.behaviour.id, self.params)

    def __getitem__(self, key):
        return self.params[key]

    def identity(self) -> dict:
        """The record's identifying keys; the flavour's key keeps its first name, "framework" (docs/results.md)."""
        return {"framework": self.flavour, "behaviour": self.behaviour.id, "family": self.behaviour.family,
                "params": self.params, "check": self.check_id}


class VerdictFailure(AssertionError):
    """The failure that carries a deviations.Verdict which is not a reproduction (fixed, or outside its signature)
    to pytest."""

    def __init__(self, verdict: deviations.Verdict):
        super().__init__(verdict.text)
        self.outcome = verdict.outcome


class Events:
    """JSON lines appended (and flushed) as they happen, so a crash keeps everything up to it."""

    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8") if path else None   # noqa: SIM115 - open for the session

    def emit(self, kind: str, **data):
        if self.file:
            self.file.write(json.dumps({"event": kind, **data}, allow_nan=False) + "\n")
            self.file.flush()

    def close(self):
        if self.file:
            self.file.close()


class Session:
    """Per-run state: selected flavours, loaded adapters, declarations, records."""

    def __init__(self, config):
        names, backend = config.getoption("flavour"), config.getoption("onnx_backend")
        try:
            self.selected = list(dict.fromkeys(names)) if names else flavours.default([onnx_backends.OPTION] if backend else [])
            for name in self.selected:
                specs.profile(name)   # validated before any check: a flavour file another package ships too
                if not flavours.installed(name):
                    raise pytest.UsageError(f"--flavour {name}: not installed (needs {', '.join(flavours.manifest(name)['imports'])})")
                if not flavours.shares_process(name):
                    env = " ".join(f"{k}={v}" for k, v in flavours.environment(name).items())
                    raise pytest.UsageError(f"--flavour {name}: run it in its own process with {env}")
                if config.getoption("device") not in flavours.devices(name):
                    raise pytest.UsageError(f"--device {config.getoption('device')}: {name} runs on "
                                            f"{' or '.join(flavours.devices(name))}")
            needing = [n for n in self.selected if flavours.needed_option(n) == onnx_backends.OPTION]
            loaded = onnx_backends.checked(backend, self.selected, needing)
            self.options = {n: {flavours.option_key(onnx_backends.OPTION): backend} for n in needing}
            runtimes = {n: onnx_backends.runtime(loaded, flavours.manifest(n)) for n in needing}
            user, shipped = config.getoption("deviations") or (), not config.getoption("no_shipped_deviations")
            self.declarations = {name: deviations.declarations(name, user, shipped, runtimes.get(name))
                                 for name in self.selected}
            self.ci_files = ci_files.checked(config.getoption("junit"), config.getoption("summary"))
        except (flavours.UnknownFlavour, specs.SpecError, output.OutputError, onnx_backends.BadBackend) as err:
            raise pytest.UsageError(str(err)) from err
        self.seed = config.getoption("seed")
        self.device = config.getoption("device")
        self.events = Events(config.getoption("events"))
        self.adapters, self.records = {}, []

    def adapter(self, name):
        """The flavour's adapter, loaded once; a device it does not have, or one it does not run on, is a
        usage error before any check."""
        if name not in self.adapters:
            try:
                loaded = flavours.load_adapter(name, self.device, self.options.get(name))
            except DeviceUnavailable as err:
                raise pytest.UsageError(f"{name}: {err}") from err
            actual = loaded.environment()["device"]
            if flavours.device_kind(actual) != self.device:
                raise pytest.UsageError(f"--device {self.device}: {name} places its arrays on {actual}")
            self.adapters[name] = loaded
            self.events.emit("flavour", framework=name, **self.flavours_meta()[name])   # the events keep the results' key
        return self.adapters[name]

    def flavours_meta(self):
        """Each loaded flavour's version and environment: the results' metadata/frameworks."""
        return {n: {"version": a.version(), "environment": a.environment()} for n, a in self.adapters.items()}

    def derived_seed(self, check_id: str) -> int:
        """The seed of one check's draws: --seed and the check id."""
        return seeds.derived(self.seed, check_id)


def pytest_addoption(parser):
    group = parser.getgroup("layerconf")
    group.addoption("--flavour", "--framework", dest="flavour", action="append", default=None, metavar="NAME",
                    help=f"flavour to check, repeatable; one of {flavours.names()}; "
                         "default: every installed one that can share this process (--framework: its former name)")
    group.addoption("--results", default=None, metavar="PATH", help="write the results JSON here")
    group.addoption("--events", default=None, metavar="PATH",
                    help="append one JSON line per event here as it happens (flavour versions, checks collected, each record)")
    group.addoption("--seed", type=int, default=0, help="base seed for every random draw (default 0)")
    group.addoption("--device", default="cpu", choices=["cpu", "cuda"],
                    help="device the flavours run on: cpu or cuda (default cpu); a flavour that cannot is a usage error")
    group.addoption("--deviations", action="append", default=None, metavar="PATH",
                    help="a YAML file of your own declared deviations (the schema of specs/deviations/), repeatable; "
                         "on top of the shipped ones")
    group.addoption("--no-shipped-deviations", action="store_true",
                    help="leave out the shipped declarations (specs/deviations/): only those of --deviations apply")
    group.addoption("--onnx-backend", default=None, metavar="MODULE:BACKEND",
                    help="the onnx.backend.base.Backend the onnx-backend flavour runs the ONNX models through, "
                         f"e.g. {onnx_backends.EXAMPLE}")
    group.addoption("--junit", default=None, metavar="PATH", help="write JUnit XML of the records here (one testcase per check)")
    group.addoption("--summary", default=None, metavar="PATH", help="write a short Markdown summary here (for a CI step summary)")


@pytest.hookimpl(tryfirst=True)   # before other plugins' pytest_configure, which may read getoption("framework")
def pytest_configure(config):
    config.option.framework = config.option.flavour   # the option's former name, for plugins that ask for it
    config.addinivalue_line("markers", "behaviour(id): a conformance test of the catalogue behaviour id")
    config.layerconf = Session(config)


def pytest_unconfigure(config):
    if hasattr(config, "layerconf"):   # absent when the options were refused
        config.layerconf.events.close()


def pytest_report_header(config):
    session = config.layerconf
    if not session.selected:
        return ["layerconf: no flavour installed or selected: conformance tests will not run"]
    lines = [f"layerconf: seed {session.seed}, device {session.device}"]
    for name in session.selected:
        a = session.adapter(name)
        env = ", ".join(f"{k} {v}" for k, v in a.environment().items())
        lines.append(f"  {name} {a.version()}: {env}")
    return lines


def pytest_generate_tests(metafunc):
    marker = metafunc.definition.get_closest_marker("behaviour")
    if marker is None:
        return
    behaviour = specs.behaviours()[marker.args[0]]
    if not metafunc.config.layerconf.selected:
        reason = (f"no flavour selected: none of {flavours.names()} is installed and can run in this "
                  "process; use --flavour NAME in an environment that has it (tox -e NAME)")
        metafunc.parametrize("case", [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-flavour")])
        return
    params = []
    for name in metafunc.config.layerconf.selected:
        profile = specs.profile(name)   # the version only where an opset's availability depends on it
        version = metafunc.config.layerconf.adapter(name).version() if behaviour.opsets_from else None
        for values in behaviour.cases():
            case = Case(name, behaviour, values, not_applicable(behaviour, values, profile, version))
            marks = [pytest.mark.skip(reason=f"not applicable: {case.not_applicable}")] if case.not_applicable else []
            inner = ",".join(f"{k}={v}" for k, v in values.items())
            params.append(pytest.param(case, marks=marks, id=f"{name}:{inner}" if inner else name))
    metafunc.parametrize("case", params)


def _case(item) -> Case | None:
    return getattr(item, "callspec", None) and item.callspec.params.get("case")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Attach each case's declared deviation."""
    session = config.layerconf
    cases = [(item, c) for item in items if (c := _case(item)) is not None]
    for item, case in cases:
        if case.not_applicable:
            continue
        try:
            item.layerconf_declaration = deviations.applying(
                session.declarations[case.flavour], case.flavour, case.behaviour.id, case.params,
                session.adapter(case.flavour).version(), session.device)
        except specs.SpecError as err:
            raise pytest.UsageError(str(err)) from err


def pytest_collection_finish(session):
    """Announce the checks that will run (after deselection), for progress and for recovery after a crash."""
    state = session.config.layerconf
    cases = [c for item in session.items if (c := _case(item)) is not None]
    for name in state.selected:
        state.events.emit("collected", framework=name, checks=[c.identity() for c in cases if c.flavour == name])


@pytest.fixture
def adapter(case, request):
    """The case's flavour adapter, seeded from --seed and the check id."""
    session = request.config.layerconf
    a = session.adapter(case.flavour)
    a.seed(session.derived_seed(case.check_id))
    return a


@pytest.fixture
def profile(case):
    return specs.profile(case.flavour)


@pytest.fixture
def rng(case, request):
    """NumPy generator for input draws, fixed by --seed and the check id."""
    return np.random.default_rng(request.config.layerconf.derived_seed(case.check_id))


@pytest.fixture
def check(case, adapter, request):
    """Hard (raises at the first failure), or soft when a deviation is declared for the case."""
    soft = getattr(request.node, "layerconf_declaration", None) is not None
    c = Check(case.check_id, case.flavour, adapter.version(), case.behaviour.formula, soft=soft)
    request.node.layerconf_check = c
    return c


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """Seed hypothesis from --seed; judge a declared deviation once the test has run."""
    case = _case(pyfuncitem)
    if case is None:
        return (yield)
    session = pyfuncitem.config.layerconf
    if hasattr(pyfuncitem.obj, "hypothesis"):
        hypothesis.seed(session.derived_seed(case.check_id))(pyfuncitem.obj)
    declared = getattr(pyfuncitem, "layerconf_declaration", None)
    if declared is None:
        return (yield)
    check = pyfuncitem.layerconf_check
    try:
        yield
    except Exception as err:  # noqa: BLE001 - any exception is an observation to judge
        check.failures.append(Failure.from_exception(err))
    verdict = deviations.judge(declared, check.failures, check.observed, case.params.get("dtype", "float64"),
                               lambda overrides: _rerun(pyfuncitem, overrides))
    if verdict.outcome is Outcome.DEVIATION:
        pytest.xfail(verdict.text)
    raise VerdictFailure(verdict)


def _rerun(item, overrides: dict) -> list:
    """Run the test again, same draws, with the reference following the overridden profile; its failures."""
    case, session = _case(item), item.config.layerconf
    if "profile" not in item.funcargs:
        raise specs.SpecError(f"{item.layerconf_declaration.name}: a convention signature needs a test that reads the "
                              f"profile, and {case.behaviour.id}'s does not")
    check = Check(case.check_id, case.flavour, session.adapter(case.flavour).version(), case.behaviour.formula, soft=True)
    args = dict(item.funcargs, profile=item.funcargs["profile"].overridden(overrides), check=check)
    if "rng" in args:
        args["rng"] = np.random.default_rng(session.derived_seed(case.check_id))
    session.adapter(case.flavour).seed(session.derived_seed(case.check_id))
    try:
        item.obj(**{name: args[name] for name in item._fixtureinfo.argnames})
    except Exception as err:  # noqa: BLE001 - any exception is an observation
        check.failures.append(Failure.from_exception(err))
    return check.failures


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    case = _case(item)
    if case is None or not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return report
    session = item.config.layerconf
    outcome, message = _outcome(case, report, call)
    check = getattr(item, "layerconf_check", None)
    summary = check.summary() if check else {"worst_error": None, "margin": None, "tolerance": None,
                                              "quantity": None, "statistics": [], "observed": {}, "failures": []}
    if outcome is Outcome.ERROR and call.excinfo is not None and not summary["failures"]:
        summary["failures"] = [Failure.from_exception(call.excinfo.value).record()]
    declared = getattr(item, "layerconf_declaration", None)
    record = {**case.identity(), "version": session.adapter(case.flavour).version(), "outcome": outcome.value,
              "message": message, "deviation": declared.record() if declared else None,
              "duration_s": round(report.duration, 6), **summary}
    session.records.append(record)
    session.events.emit("record", record=record)
    return report


def _outcome(case: Case, report, call) -> tuple[Outcome, str | None]:
    if case.not_applicable:
        return Outcome.NOT_APPLICABLE, case.not_applicable
    if hasattr(report, "wasxfail"):
        return Outcome.DEVIATION, report.wasxfail
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        return Outcome.SKIPPED, reason.removeprefix("Skipped: ")
    if report.passed:
        return Outcome.PASSED, None
    err = call.excinfo.value if call.excinfo is not None else None
    if isinstance(err, VerdictFailure):
        return err.outcome, str(err)
    if report.when == "call" and err is not None and _only_assertions(err):
        return Outcome.FAILED, str(err)
    return Outcome.ERROR, report.longreprtext[-2000:]


def _only_assertions(exc) -> bool:
    """A check's failure, or a group (hypothesis reports several distinct failures so) of them only."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(lambda e: not isinstance(e, (CheckFailure, BaseExceptionGroup))) is None
    return isinstance(exc, CheckFailure)


def pytest_terminal_summary(terminalreporter, config):
    session = config.layerconf
    if not session.records:
        return
    tr = terminalreporter
    tr.section("layerconf")
    for name in session.selected:
        counts = ", ".join(f"{n} {o.value}" for o, n in
                           sorted(_counts(session.records, name).items(), key=lambda i: i[0].severity))
        tr.write_line(f"{name}: {counts}")
    path = config.getoption("results")
    meta = results.metadata(session.flavours_meta(), session.seed)
    if path:
        tr.write_line(f"results: {len(session.records)} records -> {results.write(path, meta, session.records)}")
    document = {"schema": results.SCHEMA_ID, "metadata": meta, "records": session.records}
    ci_files.write(session.ci_files, [document], {"results": path} if path else None)
    for option, target in session.ci_files.items():
        tr.write_line(f"{option.lstrip('-')}: {target}")


def _counts(records, name) -> dict:
    counts = {}
    for r in records:
        if results.flavour_of(r) == name:
            o = Outcome(r["outcome"])
            counts[o] = counts.get(o, 0) + 1
    return counts
