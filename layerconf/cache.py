"""The folder layerconf keeps between runs: compiled programs that are expensive to make again (JAX compiles
every new shape of every operation). $LAYERCONF_CACHE_DIR, else $XDG_CACHE_HOME/layerconf, else
~/.cache/layerconf; LAYERCONF_CACHE_DIR set to an empty value turns it off. Deleting it is always safe.
"""
import os
from pathlib import Path


def folder(kind: str) -> Path | None:
    """The cache folder for ``kind`` (e.g. 'jax'), or None when caching is off."""
    root = os.environ.get("LAYERCONF_CACHE_DIR")
    if root is None:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "layerconf"
    return Path(root) / kind if str(root) else None
