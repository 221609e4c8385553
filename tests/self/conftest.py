"""Fixtures shared by the self-tests.

The self-tests keep nothing in the user's cache folder: layerconf's cache (layerconf.cache: compiled programs,
artefacts, the durations `layerconf run` orders flavours by) points at a folder of this session, for this process
and every process it starts. A test that needs another value sets it itself (monkeypatch)."""
import os

import pytest

from tests.self import wheels


@pytest.fixture(autouse=True, scope="session")
def _cache_of_this_session(tmp_path_factory):
    before = os.environ.get("LAYERCONF_CACHE_DIR")
    os.environ["LAYERCONF_CACHE_DIR"] = str(tmp_path_factory.mktemp("layerconf-cache"))
    yield
    if before is None:
        del os.environ["LAYERCONF_CACHE_DIR"]
    else:
        os.environ["LAYERCONF_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def layerconf_wheel(tmp_path_factory):
    """The path of layerconf's wheel, built once per session from the tracked files."""
    pytest.importorskip("build", reason="the dev extra (pip install -e '.[dev]', tox -e self) brings the wheel builder")
    return wheels.layerconf(tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist"))
