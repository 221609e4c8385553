"""Semantic bugs injected into a framework, to show that the suite catches them.

The modules of each flavour's manifest (``mutants``: one per framework, or per framework and layer
family) register their mutants with ``@mutant(name, description)``; an
install function patches the framework's own layer code and calls ``hit()`` whenever the patch
changes what a call does, so a mutant the suite never exercises is told apart from one it misses.
plugin.py is the pytest plugin that installs the mutant named by LAYERCONF_MUTANT.
"""
import importlib

from layerconf import flavours

MUTANTS = {}   # name -> (description, install function), filled when a framework's module is imported
_hits = {"count": 0}


def mutant(name, description):
    def register(install):
        MUTANTS[name] = (description, install)
        return install
    return register


def hit():
    _hits["count"] += 1


def hits() -> int:
    return _hits["count"]


def mutants_of(framework: str) -> dict:
    """Import the framework's mutant modules (nothing is patched) and return their mutants."""
    for module in flavours.manifest(framework)["mutants"]:
        importlib.import_module(module)
    return MUTANTS
