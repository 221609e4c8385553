"""Flavours other packages ship (layerconf.external): a fake package, written into a folder with its dist-info and
entry_points.txt and put on sys.path (and on PYTHONPATH for the processes of `layerconf run`), registers the
flavour ``theirs``: its flavour file (manifest and profile: the fake flavour's), its adapter (tests/self/fake_flavour's
numpy dropout) and its own deviations file. It is listed, validated and run like a shipped flavour; a bad one is
refused before any work, naming the package and the entry point."""
import json
import os
import sys
from pathlib import Path

import ml_dtypes  # noqa: F401 - as in test_plugin.py: imported once, before the in-process runs
import pytest
import scipy.stats  # noqa: F401
import yaml

from layerconf import cli, deviations, external, flavours, specs, suite
from tests.self import fake_flavour

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "package theirpkg 1.0, entry point theirs = theirpkg (group layerconf.flavours)"
ADAPTER = '''"""The package's adapter: the self-tests' numpy dropout, with the package's own version."""
from tests.self.fake_flavour import FakeAdapter


class TheirAdapter(FakeAdapter):
    def version(self):
        return "2.0"


def make_adapter(flavour, device="cpu"):
    return TheirAdapter(flavour, device)
'''
OWN = [{"behaviours": ["do.error.rate"], "flavours": ["theirs"], "versions": ">=2", "signature": {"kind": "no_error"},
        "reason": "their dropout never validates the rate", "link": "https://example.org/theirs"}]


def _forget():
    """Forget what an earlier install left: the caches of what is registered, and the package's modules."""
    for cached in (external.entry_points, external.find, specs.manifest, specs.profile, specs.deviation_file):
        cached.cache_clear()
    for module in [m for m in sys.modules if m.split(".")[0] == "theirpkg"]:
        del sys.modules[module]


@pytest.fixture
def package(tmp_path, monkeypatch):
    """Install the fake package: ``package(entry=..., manifest=...)`` with the entry point's line and manifest edits."""
    def install(entry="theirs = theirpkg", profile=(), **manifest):
        site = tmp_path / "site"
        code = site / "theirpkg"
        (code / "deviations").mkdir(parents=True)
        (code / "__init__.py").write_text('"""Ships the layerconf flavour theirs."""\nfrom pathlib import Path\n\n'
                                          'FLAVOUR = Path(__file__).with_name("theirs.yaml")\nVERSION = 1\n')
        (code / "adapter.py").write_text(ADAPTER)
        flavour = {"manifest": {**fake_flavour.MANIFEST, "adapter": "theirpkg.adapter", "deviations": ["theirs"],
                                "mutants": [], "title": "their framework, run their way", **manifest},
                   **fake_flavour.PROFILE, **dict(profile)}
        (code / "theirs.yaml").write_text(yaml.safe_dump(flavour))
        (code / "deviations" / "theirs.yaml").write_text(yaml.safe_dump(OWN))
        info = site / "theirpkg-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: theirpkg\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[layerconf.flavours]\n{entry}\n")
        monkeypatch.syspath_prepend(str(site))
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(ROOT)]))   # for the flavour processes
        _forget()
        return code
    yield install
    _forget()


@pytest.mark.parametrize("entry", ["theirs = theirpkg", "theirs = theirpkg:FLAVOUR"])   # a module, or the file's path
def test_an_external_flavour_is_listed_and_read_like_a_shipped_one(package, entry, capsys):
    code = package(entry)
    assert "theirs" in flavours.names() and "theirs" not in specs.flavour_names()
    assert flavours.manifest("theirs")["adapter"] == "theirpkg.adapter" and flavours.installed("theirs")
    assert specs.profile("theirs").path == code / "theirs.yaml"
    (own,) = deviations.declarations("theirs")
    assert own.path == str(code / "deviations" / "theirs.yaml") and own.flavours == ("theirs",)
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    assert "theirs" in capsys.readouterr().out


def test_the_plugin_runs_an_external_flavour_with_its_adapter_and_its_deviations(package, pytester):
    code = package()
    out = pytester.path / "r.json"
    result = pytester.runpytest_inprocess(*suite.pytest_args(["--flavour", "theirs", "-k", "test_dropout",
                                                              "--results", str(out)]))
    records = json.loads(out.read_text())["records"]
    assert result.ret == 0 and {r["version"] for r in records} == {"2.0"}
    rate = [r for r in records if r["behaviour"] == "do.error.rate"]
    assert rate and {r["outcome"] for r in rate} == {"deviation"}
    assert {r["deviation"]["source"] for r in rate} == {str(code / "deviations" / "theirs.yaml")}


def test_layerconf_run_runs_an_external_flavour_in_its_own_process(package, tmp_path, capsys):
    package()
    assert cli.main(["run", "--flavour", "theirs", "--output", str(tmp_path / "out"), "--jobs", "1"]) == 0
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert document["metadata"]["frameworks"]["theirs"]["version"] == "2.0"
    outcomes = {r["outcome"] for r in document["records"] if r["behaviour"] == "do.error.rate"}
    assert outcomes == {"deviation"} and "theirs: completed (exit 0)" in capsys.readouterr().err


def test_a_missing_module_of_an_external_flavour_names_its_packages_extra(package, tmp_path, capsys):
    package(imports=["numpy", "theirpkg_framework"], extra="cpu")
    assert flavours.install_hint("theirs") == 'no module theirpkg_framework: pip install "theirpkg[cpu]"'
    assert cli.main(["run", "--flavour", "theirs", "--output", str(tmp_path / "out")]) == 2
    assert 'theirs: no module theirpkg_framework: pip install "theirpkg[cpu]"' in capsys.readouterr().err


@pytest.mark.parametrize("entry, edits, message", [   # edits: of the manifest, or the profile
    ("theirs = theirpkg:missing", {}, "cannot load: AttributeError"),
    ("theirs = theirpkg", {"profile": {"dtypes": ["float128"]}}, "theirs.yaml: dtypes/0: 'float128' is not one of"),
    ("theirs = theirpkg:VERSION", {}, "loads to int; it must load to a module holding theirs.yaml or to the flavour file's path"),
    ("theirs = json", {}, "no flavour file"),
    ("torch = theirpkg", {}, "'torch' is a built-in flavour; register the flavour under another name"),
    ("theirs = theirpkg", {"devices": ["tpu"]}, "theirs.yaml: devices/0: 'tpu' is not one of ['cpu', 'cuda']"),
    ("theirs = theirpkg", {"deviations": ["elsewhere"]}, "deviations: no file elsewhere.yaml in "),
])
def test_a_bad_external_flavour_is_refused_naming_the_package_and_the_entry_point(package, entry, edits, message, tmp_path,
                                                                                  capsys):
    package(entry, **edits)
    name = entry.split(" = ")[0]
    assert cli.main(["run", "--flavour", name, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"package theirpkg 1.0, entry point {entry} (group layerconf.flavours)" in err and message in err
    assert not (tmp_path / "out").exists()


def test_the_suite_refuses_a_bad_external_flavour_before_any_check(package, pytester):
    package(devices=["tpu"])
    result = pytester.runpytest_inprocess(*suite.pytest_args(["--flavour", "theirs"]))
    assert result.ret == 4 and ORIGIN in result.stderr.str()    # python -m layerconf.suite exits 2 for it
