"""The mutation benchmark's registry: semantic bugs injected into a framework, to show that the suite catches them.

bugs.yaml is the registry of names: per bug its description, the behaviour ids expected to catch it and the mutant
modules that apply it (readable without any framework). The modules a flavour's manifest lists (``mutants``) hold
the install functions, registered with ``kit.mutant`` or ``kit.edited``; an install patches the framework's own
layer code and counts with ``hit()`` the calls its patch changes, so a mutant the suite never exercises is told
apart from one it misses. plugin.py is the pytest plugin that installs the mutant named by LAYERCONF_MUTANT.
"""
import functools
import importlib
from pathlib import Path

import yaml

from layerconf import flavours

BUGS = Path(__file__).with_name("bugs.yaml")
INSTALLS = {}   # name -> install function, filled when a flavour's mutant modules are imported
_hits = {"count": 0}


def hit(changed=True):
    """Count one call the mutant changed when ``changed`` is true; return ``changed``."""
    _hits["count"] += bool(changed)
    return changed


def hits() -> int:
    return _hits["count"]


@functools.cache
def bugs() -> dict:
    """bugs.yaml: name -> {description, caught_by, in, not_in (flavour -> why it cannot apply there)}."""
    return yaml.safe_load(BUGS.read_text())


def mutants_of(framework: str) -> dict:
    """Import the flavour's mutant modules (nothing is patched); return name -> install of the mutants that apply."""
    for module in flavours.manifest(framework)["mutants"]:
        importlib.import_module(module)
    unknown = sorted(set(INSTALLS) - set(bugs()))
    if unknown:
        raise LookupError(f"mutants without an entry in {BUGS.name}: {unknown}")
    return {n: install for n, install in INSTALLS.items() if framework not in bugs()[n].get("not_in", {})}
