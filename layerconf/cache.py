"""The folder layerconf keeps between runs: compiled programs that are expensive to make again (JAX compiles
every new shape of every operation). $LAYERCONF_CACHE_DIR, else $XDG_CACHE_HOME/layerconf, else
~/.cache/layerconf; LAYERCONF_CACHE_DIR set to an empty value turns it off. Deleting it is always safe.

Besides the frameworks' own compilation caches it keeps artefacts (``artefact``): the bytes of a program an
execution path made once for a configuration (an exported program, a converted graph), read back by later
runs instead of made again. Their key names the framework versions and the configuration, not the
framework's code, so whoever changes that code in the process (a mutant of the mutation benchmark) turns
their reuse off first (``bypass_artefacts``).
"""
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_artefacts = {"reuse": True}


def folder(kind: str) -> Path | None:
    """The cache folder for ``kind`` (e.g. 'jax'), or None when caching is off."""
    root = os.environ.get("LAYERCONF_CACHE_DIR")
    if root is None:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "layerconf"
    return Path(root) / kind if str(root) else None


def bypass_artefacts() -> None:
    """Make every artefact anew in this process, and keep none: the framework's code differs from the one
    the stored artefacts were made by."""
    _artefacts["reuse"] = False


def artefacts_folder(kind: str) -> Path | None:
    """Where artefacts of ``kind`` are kept, or None when they are not (caching off, or bypassed)."""
    return folder(kind) if _artefacts["reuse"] else None


def code_digest(path: str) -> str:
    """A digest of the source file at ``path``: in an artefact's key, the code that makes the artefact."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def artefact(kind: str, key: tuple, make: Callable[[], T], dump: Callable[[T], bytes], load: Callable[[bytes], T]) -> T:
    """``make()``'s result for ``key``: read back with ``load`` from the cache folder ``kind`` when an earlier run
    kept it, else made now and kept there as ``dump`` gives it. ``key`` must name everything the result depends
    on but the framework's code: its versions and the configuration (its repr is hashed). Written whole or not
    at all (a temporary file renamed), so a crash leaves no half artefact."""
    where = artefacts_folder(kind)
    if where is None:
        return make()
    path = where / f"{hashlib.sha256(repr(key).encode()).hexdigest()}.bin"
    if path.exists():
        return load(path.read_bytes())
    made = make()
    where.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=where, delete=False) as tmp:
        tmp.write(dump(made))
    os.replace(tmp.name, path)
    return made
