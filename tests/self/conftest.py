"""The self-tests keep nothing in the user's cache folder: layerconf's cache (layerconf.cache: compiled programs,
artefacts, the durations `layerconf run` orders flavours by) points at a folder of this session, for this process
and every process it starts. A test that needs another value sets it itself (monkeypatch)."""
import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _cache_of_this_session(tmp_path_factory):
    before = os.environ.get("LAYERCONF_CACHE_DIR")
    os.environ["LAYERCONF_CACHE_DIR"] = str(tmp_path_factory.mktemp("layerconf-cache"))
    yield
    if before is None:
        del os.environ["LAYERCONF_CACHE_DIR"]
    else:
        os.environ["LAYERCONF_CACHE_DIR"] = before
