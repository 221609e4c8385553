"""Installed means importable (issue 26, item 9): every module of a manifest's ``imports`` is found, a namespace
package (a folder of that name, e.g. in the working directory) is not a framework, and the refusal names the
missing module and the extra that brings it. No framework needed: fake modules on sys.path, or find_spec patched."""
import importlib.machinery
import importlib.util

import pytest

from layerconf import cli, flavours


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A flavour 'fake' whose manifest imports the given modules; tmp_path is on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def manifest(*imports):
        monkeypatch.setattr(flavours, "manifest", lambda name: {"imports": list(imports), "extra": "fake-extra"})
    return manifest


def test_every_import_counts_and_the_first_missing_one_is_named(fake, tmp_path):
    (tmp_path / "layerconf_fake_fw.py").write_text("")
    fake("layerconf_fake_fw", "layerconf_fake_absent", "layerconf_fake_absent_too")
    assert not flavours.installed("fake")
    assert flavours.missing("fake") == "layerconf_fake_absent"
    assert flavours.install_hint("fake") == 'no module layerconf_fake_absent: pip install "layerconf[fake-extra]"'
    fake("layerconf_fake_fw")
    assert flavours.installed("fake") and flavours.install_hint("fake") == ""


def test_a_folder_named_like_the_framework_is_not_the_framework(fake, tmp_path, monkeypatch):
    (tmp_path / "layerconf_fake_ns").mkdir()          # a namespace package: no __init__.py
    (tmp_path / "layerconf_fake_pkg").mkdir()
    (tmp_path / "layerconf_fake_pkg" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    fake("layerconf_fake_ns")
    assert importlib.util.find_spec("layerconf_fake_ns") is not None and flavours.missing("fake") == "layerconf_fake_ns"
    fake("layerconf_fake_pkg", "layerconf_fake_ns.sub")   # a missing parent: missing, not an error
    assert flavours.missing("fake") == "layerconf_fake_ns.sub"
    fake("layerconf_fake_pkg")
    assert flavours.installed("fake")


def test_run_names_the_missing_module_and_its_extra(monkeypatch, capsys):
    """torch without torchvision: torch is refused with what to install, torch-compile (torch alone) counts."""
    def find_spec(name, package=None):
        top = name.split(".")[0]
        return None if top == "torchvision" else importlib.machinery.ModuleSpec(name, None, origin=f"/site/{top}.py")
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert "torch-compile" in flavours.names() and flavours.installed("torch-compile")
    assert cli.main(["run", "--flavour", "torch"]) == 2
    err = capsys.readouterr().err
    assert "--flavour: not installed here: torch (installed: " in err and "torch-compile" in err
    assert 'torch: no module torchvision: pip install "layerconf[torch]"' in err
