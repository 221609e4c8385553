"""A pytest plugin that injects one semantic bug into a framework before any test uses it.

    LAYERCONF_MUTANT=<name> python -m layerconf.suite --framework F -p benchmarks.mutants.plugin

The mutant comes from the mutant modules of the flavour given by --flavour (one per run). At the end of the
session the number of calls the mutant changed is written to LAYERCONF_MUTANT_REPORT (JSON). With
LAYERCONF_MUTANT_FOCUS=1 only the checks of the behaviours bugs.yaml names for the mutant (caught_by) run; the
others are deselected (benchmarks/mutations.py --focus).
"""
import json
import os

from benchmarks.mutants import bugs, hits, mutants_of
from layerconf import cache

NAME = os.environ.get("LAYERCONF_MUTANT", "")


def pytest_configure(config):
    if not NAME:
        return
    selected = config.getoption("flavour") or []
    if len(selected) != 1:
        raise RuntimeError(f"LAYERCONF_MUTANT={NAME!r} needs exactly one --flavour, got {selected}")
    mutants = mutants_of(selected[0])
    if NAME not in mutants:
        raise RuntimeError(f"LAYERCONF_MUTANT={NAME!r}: unknown mutant of {selected[0]}; one of {sorted(mutants)}")
    cache.bypass_artefacts()   # a stored artefact was made by the framework's code without the mutant
    mutants[NAME]()


def pytest_collection_modifyitems(config, items):
    """Under LAYERCONF_MUTANT_FOCUS=1, keep only the checks of the mutant's caught_by behaviours."""
    if not (NAME and os.environ.get("LAYERCONF_MUTANT_FOCUS") == "1"):
        return
    named = set(bugs()[NAME]["caught_by"])
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("behaviour")
        (keep if marker and marker.args[0] in named else drop).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


def pytest_report_header(config):
    return [f"layerconf mutant: {NAME}: {bugs()[NAME]['description']}" if NAME else "layerconf mutant: (none)"]


def pytest_unconfigure(config):
    path = os.environ.get("LAYERCONF_MUTANT_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump({"mutant": NAME, "mutated_calls": hits()}, f)
