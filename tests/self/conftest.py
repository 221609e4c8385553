"""Fixtures shared by the self-tests of the package."""
import pytest

from tests.self import wheels


@pytest.fixture(scope="session")
def layerconf_wheel(tmp_path_factory):
    """The path of layerconf's wheel, built once per session from the tracked files."""
    pytest.importorskip("build", reason="the dev extra (pip install -e '.[dev]', tox -e self) brings the wheel builder")
    return wheels.layerconf(tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist"))
