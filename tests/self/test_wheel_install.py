"""From wheels, in a fresh environment, outside the checkout (issue 26): layerconf's wheel and the wheel of a small
package, ``theirpkg``, that registers the flavour ``theirs`` by entry point (its adapter: tests/self/fake_flavour's
numpy dropout, which never validates the rate) go into a new virtual environment; in an empty folder,
``layerconf run --flavour theirs --deviations expectations.yaml`` runs it under the user's own declaration, and
the results, the report, the JUnit file and the summary show it. No framework; no network: uv installs
layerconf's dependencies from its cache, at the versions of the running environment (tox -e self filled it)."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.self import fake_flavour, wheels

EXPECTATION = {"behaviours": ["do.error.rate"], "flavours": ["theirs"], "versions": ">=1",
               "signature": {"kind": "no_error"}, "reason": "their dropout never validates the rate",
               "link": "https://example.org/theirs/issues/1"}
PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "theirpkg"
version = "1.0"
dependencies = ["layerconf"]

[project.entry-points."layerconf.flavours"]
theirs = "theirpkg"

[tool.setuptools.package-data]
theirpkg = ["*.yaml"]
'''


def their_wheel(folder: Path, out: Path) -> Path:
    """theirpkg: its flavour file (the fake flavour's manifest and profile) and its adapter, as a wheel."""
    code = folder / "theirpkg"
    code.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(PYPROJECT)
    (code / "__init__.py").write_text('"""Ships the layerconf flavour theirs (theirs.yaml, adapter fake_flavour)."""\n')
    shutil.copy(fake_flavour.__file__, code / "fake_flavour.py")
    manifest = {**fake_flavour.MANIFEST, "title": "their framework, run their way", "adapter": "theirpkg.fake_flavour",
                "deviations": [], "mutants": []}
    (code / "theirs.yaml").write_text(yaml.safe_dump({"manifest": manifest, **fake_flavour.PROFILE}))
    return wheels.build(folder, out)


def run(*argv, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, timeout=600, **kwargs)


def installed_versions() -> list[str]:
    """The running environment's distributions as constraints (name==version), layerconf left out."""
    frozen = run(uv(), "pip", "freeze", "--python", sys.executable).stdout.splitlines()
    return [line for line in frozen if re.match(r"^[A-Za-z0-9_.-]+==", line) and not line.startswith("layerconf==")]


def uv() -> str:
    return pytest.importorskip("uv", reason="the dev extra (tox -e self) brings uv").find_uv_bin()


@pytest.fixture(scope="module")
def fresh(layerconf_wheel, tmp_path_factory) -> Path:
    """A new virtual environment with layerconf's wheel and theirpkg's: its folder."""
    base = tmp_path_factory.mktemp("fresh")
    wheel = their_wheel(base / "theirpkg", base / "dist")
    (base / "constraints.txt").write_text("\n".join(installed_versions()) + "\n")
    venv = base / "venv"
    created = run(uv(), "venv", "--quiet", "--python", sys.executable, venv)
    assert created.returncode == 0, created.stderr
    done = run(uv(), "pip", "install", "--offline", "--python", venv / "bin" / "python", "--constraints",
               base / "constraints.txt", layerconf_wheel, wheel)
    if done.returncode and "network connectivity is disabled" in done.stderr and not os.environ.get("CI"):
        pytest.skip(f"uv's cache lacks a dependency of layerconf (tox -e self fills it): {done.stderr[-500:]}")
    assert done.returncode == 0, done.stderr
    return venv


def test_the_fresh_environment_imports_both_packages_from_itself(fresh, tmp_path):
    where = run(fresh / "bin" / "python", "-c", "import layerconf, theirpkg; print(layerconf.__file__); print(theirpkg.__file__)",
                cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert all(Path(f).is_relative_to(fresh) for f in where.stdout.split()), where.stdout


def test_an_external_flavour_runs_from_the_wheels_under_the_users_declarations(fresh, tmp_path):
    expectations = (tmp_path / "expectations.yaml").resolve()     # the command line resolves it for the processes
    expectations.write_text(yaml.safe_dump([EXPECTATION]))
    assert wheels.SOURCE.resolve() not in tmp_path.resolve().parents
    done = run(fresh / "bin" / "layerconf", "run", "--flavour", "theirs", "--deviations", "expectations.yaml",
               "--output", "out", "--jobs", "1", "--junit", "junit.xml", "--summary", "summary.md", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "theirs: completed (exit 0)" in done.stderr

    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert document["metadata"]["frameworks"]["theirs"]["version"] == "1.0"
    records = document["records"]
    assert {r["framework"] for r in records} == {"theirs"}
    assert {r["outcome"] for r in records} == {"passed", "deviation", "not_applicable"}
    declared = [r for r in records if r["outcome"] == "deviation"]
    assert declared and {r["behaviour"] for r in declared} == {"do.error.rate"}
    assert {r["deviation"]["source"] for r in declared} == {str(expectations)}

    junitparser = pytest.importorskip("junitparser", reason="the dev extra (tox -e self) brings the JUnit parser")
    (suite,) = junitparser.JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    assert (suite.name, suite.tests, suite.failures, suite.errors) == ("theirs", len(records), 0, 0)
    skipped = [case for case in suite if case.classname == "theirs.do.error.rate"]
    assert len(skipped) == len(declared)
    assert {r.message for case in skipped for r in case.result} == {
        f"declared deviation: {EXPECTATION['reason']} ({EXPECTATION['link']})"}

    summary = (tmp_path / "summary.md").read_text().splitlines()
    assert summary[0] == f"## layerconf: {len(records)} checks on 1 flavour(s): nothing failing"
    report = (tmp_path / "out" / "report.md").read_text()
    assert f"{EXPECTATION['reason']} ({expectations}, entry 0)" in report
