"""Flavours other packages ship: entry points of the group ``layerconf.flavours``.

The entry point's name is the flavour's name (lower case, digits and '-'; never a built-in flavour's). Its
value loads to the flavour file, the schema of specs/flavours/<flavour>.yaml (its ``manifest``, then its
profile): a module, whose folder holds ``<name>.yaml``, or a path (str or os.PathLike). The manifest's
``adapter`` is any module with ``make_adapter(flavour, device)``; each name in its ``deviations`` is the
file ``deviations/<name>.yaml`` beside the flavour file or, where there is none, a shipped one.
layerconf.specs reads the file with the same schemas and checks as a built-in flavour's; every error
about it names the package and the entry point.
"""
import functools
import importlib.metadata
import os
import re
import types
from dataclasses import dataclass
from pathlib import Path

GROUP = "layerconf.flavours"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class External:
    name: str
    path: Path      # the flavour file
    origin: str     # the package and the entry point, for messages
    package: str | None = None   # the distribution that registers it: its manifest's ``extra`` is that package's

    def deviations(self, name: str) -> Path | None:
        """The package's own deviations file ``name``, or None where it ships none of that name."""
        path = self.path.parent / "deviations" / f"{name}.yaml"
        return path if path.exists() else None


@functools.cache
def entry_points() -> dict[str, tuple]:
    """Flavour name -> every entry point of the group under that name (read once per process)."""
    found = {}
    for ep in importlib.metadata.entry_points(group=GROUP):
        found.setdefault(ep.name, []).append(ep)
    return {name: tuple(eps) for name, eps in found.items()}


def names() -> list[str]:
    """The flavours registered by entry points (nothing is imported)."""
    return sorted(entry_points())


def origin(ep) -> str:
    dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "(no distribution)"
    return f"package {dist}, entry point {ep.name} = {ep.value} (group {GROUP})"


@functools.cache
def find(name: str, builtin: bool) -> External | None:
    """The external flavour ``name`` (None where no entry point names it). ``builtin``: a shipped flavour has
    the name. An unusable entry point raises ValueError naming its package and itself."""
    eps = entry_points().get(name, ())
    if not eps:
        return None
    where = origin(eps[0])
    if len(eps) > 1:
        raise ValueError(f"{where}: flavour {name!r} is also registered by {'; '.join(origin(e) for e in eps[1:])}")
    if builtin:
        raise ValueError(f"{where}: {name!r} is a built-in flavour; register the flavour under another name")
    if not NAME.match(name):
        raise ValueError(f"{where}: the name must be lower case letters, digits and '-', got {name!r}")
    try:
        loaded = eps[0].load()
    except Exception as err:   # whatever importing their package raises
        raise ValueError(f"{where}: cannot load: {type(err).__name__}: {err}") from err
    if isinstance(loaded, types.ModuleType):
        path = Path(loaded.__file__).with_name(f"{name}.yaml")
    elif isinstance(loaded, (str, os.PathLike)):
        path = Path(loaded)
    else:
        raise ValueError(f"{where}: loads to {type(loaded).__name__}; it must load to a module holding {name}.yaml "
                         "or to the flavour file's path")
    if not path.is_file():
        raise ValueError(f"{where}: no flavour file {path}")
    return External(name, path, where, eps[0].dist.name if eps[0].dist else None)
