"""A pytest plugin that injects one semantic bug into a framework before any test uses it.

    LAYERCONF_MUTANT=<name> python -m layerconf.suite --framework F -p benchmarks.mutants.plugin

The mutant comes from the mutant modules of the flavour given by --framework (one per run). At the end of the
session the number of calls the mutant changed is written to LAYERCONF_MUTANT_REPORT (JSON).
"""
import json
import os

from benchmarks.mutants import bugs, hits, mutants_of
from layerconf import cache

NAME = os.environ.get("LAYERCONF_MUTANT", "")


def pytest_configure(config):
    if not NAME:
        return
    frameworks = config.getoption("framework") or []
    if len(frameworks) != 1:
        raise RuntimeError(f"LAYERCONF_MUTANT={NAME!r} needs exactly one --framework, got {frameworks}")
    mutants = mutants_of(frameworks[0])
    if NAME not in mutants:
        raise RuntimeError(f"LAYERCONF_MUTANT={NAME!r}: unknown mutant of {frameworks[0]}; one of {sorted(mutants)}")
    cache.bypass_artefacts()   # a stored artefact was made by the framework's code without the mutant
    mutants[NAME]()


def pytest_report_header(config):
    return [f"layerconf mutant: {NAME}: {bugs()[NAME]['description']}" if NAME else "layerconf mutant: (none)"]


def pytest_unconfigure(config):
    path = os.environ.get("LAYERCONF_MUTANT_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump({"mutant": NAME, "mutated_calls": hits()}, f)
