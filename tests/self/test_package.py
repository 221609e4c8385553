"""The package: the wheel holds the whole suite under the one name layerconf, the plugin by entry point, and
every flavour's identity derives from its manifest (the pyproject extras and the tox environments agree)."""
import configparser
import zipfile

import pytest

from layerconf import flavours, specs
from tests.self.wheels import SOURCE, tracked

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = tomllib.loads((SOURCE / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def wheel(layerconf_wheel) -> zipfile.ZipFile:
    """The wheel built from a copy of the tracked files (links kept), as a release would build it."""
    return zipfile.ZipFile(layerconf_wheel)


def test_the_wheel_holds_the_whole_suite_under_one_name(wheel):
    names = set(wheel.namelist())
    assert {n.split("/")[0] for n in names} == {"layerconf", f"layerconf-{PYPROJECT['project']['version']}.dist-info"}
    for folder, package in (("reference", "reference"), ("adapters", "adapters"), ("specs", "specs"),
                            ("tests/conformance", "conformance")):
        files = {name.removeprefix(folder + "/") for name in tracked() if name.startswith(folder + "/")}
        assert files and {f"layerconf/{package}/{f}" for f in files} <= names, folder
    for must in ("layerconf/plugin.py", "layerconf/suite.py", "layerconf/pytest.ini", "layerconf/report/__init__.py",
                 "layerconf/report/templates/report.html.j2", "layerconf/schemas/results.json"):
        assert must in names


def test_the_wheel_registers_the_plugin_and_the_command(wheel):
    entry_points = configparser.ConfigParser()
    dist = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    entry_points.read_string(wheel.read(dist).decode())
    assert dict(entry_points["pytest11"]) == {"layerconf.plugin": "layerconf.plugin"}
    assert dict(entry_points["console_scripts"]) == {"layerconf": "layerconf.cli:main"}


def test_every_manifest_names_an_extra_and_all_is_their_union():
    extras = PYPROJECT["project"]["optional-dependencies"]
    used = {specs.manifest(n)["extra"] for n in specs.flavour_names()}   # the shipped flavours (an external names its own)
    assert used <= set(extras), f"manifests name extras pyproject.toml lacks: {used - set(extras)}"
    assert set(extras) - used == {"all", "dev"}, "an extra no flavour uses"
    assert sorted(extras["all"]) == sorted({r for e in used for r in extras[e]})


def test_tox_environments_derive_from_the_manifests():
    tox_ini = configparser.ConfigParser()
    tox_ini.read(SOURCE / "tox.ini")
    listed = [e.strip() for e in tox_ini["tox"]["env_list"].split(",")]
    assert not set(listed) & set(flavours.names()), "flavour environments come from toxfile.py, not tox.ini"
    assert not [s for s in tox_ini.sections() if s.removeprefix("testenv:") in flavours.names()]
    toxfile = (SOURCE / "toxfile.py").read_text()
    assert "specs\" / \"flavours\"" in toxfile and "layerconf.suite import command" in toxfile


@pytest.mark.parametrize("name", specs.flavour_names())
def test_a_manifest_names_everything_that_identifies_its_flavour(name):
    m = specs.manifest(name)
    assert m["adapter"].startswith("layerconf.adapters.")   # the schema admits any module, for external flavours
    assert (SOURCE / (m["adapter"].replace("layerconf.", "", 1).replace(".", "/") + ".py")).exists()
    assert m["mutants"] or m.get("needs_option"), "a shipped flavour's framework is fixed, so it has mutants"
    assert all((SOURCE / (module.replace(".", "/") + ".py")).exists() for module in m["mutants"])
    assert all((SOURCE / "specs" / "deviations" / f"{f}.yaml").exists() for f in m["deviations"])
    assert all((SOURCE / path).exists() for path in m.get("self_tests", []))
    assert "cpu" in m["devices"]
    eager = m.get("path_of")
    assert eager is None or eager in flavours.names() and "path_of" not in specs.manifest(eager)   # a path of an eager flavour


def test_the_results_format_documents_every_observed_key():
    from layerconf import observed
    assert "\n".join(observed.rows()) in (SOURCE / "docs" / "results.md").read_text()
