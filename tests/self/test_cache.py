"""layerconf.cache: artefacts made once per key and read back by later runs; off, or bypassed, they are made anew."""
import os
from pathlib import Path

import pytest

from layerconf import cache


def artefact(key, made):
    def make():
        made.append(key)
        return f"program of {key}"
    return cache.artefact("kind", key, make, dump=str.encode, load=lambda data: data.decode() + " (read back)")


@pytest.fixture
def kept(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERCONF_CACHE_DIR", str(tmp_path))
    monkeypatch.setitem(cache._artefacts, "reuse", True)
    return tmp_path


def test_an_artefact_is_made_once_per_key_and_read_back(kept):
    made = []
    assert artefact(("torch 2.15", "BatchNorm2d", 3), made) == "program of ('torch 2.15', 'BatchNorm2d', 3)"
    assert artefact(("torch 2.15", "BatchNorm2d", 3), made) == "program of ('torch 2.15', 'BatchNorm2d', 3) (read back)"
    assert artefact(("torch 2.16", "BatchNorm2d", 3), made).endswith("3)")   # another version is another key
    assert made == [("torch 2.15", "BatchNorm2d", 3), ("torch 2.16", "BatchNorm2d", 3)]
    assert len(list((kept / "kind").iterdir())) == 2


def test_nothing_is_kept_with_caching_off_or_bypassed(kept, monkeypatch):
    made = []
    cache.bypass_artefacts()
    artefact(("a",), made), artefact(("a",), made)
    assert made == [("a",), ("a",)] and not (kept / "kind").exists()
    monkeypatch.setitem(cache._artefacts, "reuse", True)
    monkeypatch.setenv("LAYERCONF_CACHE_DIR", "")
    artefact(("a",), made)
    assert made == [("a",)] * 3 and cache.artefacts_folder("kind") is None


def test_a_failed_make_keeps_nothing(kept):
    def fails():
        raise RuntimeError("export failed")
    with pytest.raises(RuntimeError, match="export failed"):
        cache.artefact("kind", ("a",), fails, dump=str.encode, load=bytes.decode)
    assert not (kept / "kind").exists() or not list((kept / "kind").iterdir())


def test_the_self_tests_keep_nothing_in_the_users_cache_folder():
    """conftest.py points layerconf's cache at a folder of the session: a self-test that runs `layerconf run` must not
    rewrite the durations the user's next run is ordered by."""
    users = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "layerconf"
    assert not cache.folder("runs").is_relative_to(users)
