"""Every repro in docs/repros run alone, where its framework is installed (listed in the flavours' manifests'
self_tests, so each flavour's tox environment runs its own; elsewhere skipped, with the reason): it exits 1 where
a declaration of its check applies to the installed version on the CPU (its own, or another of another version range,
which its docstring names), and 0 (the deviation fixed) where none does."""
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from layerconf import flavours
from layerconf.repro import case, covering, declared

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = {"torch": "torch", "keras-torch": "keras", "onnxruntime": "onnxruntime", "equinox": "equinox",
                 "paddle": "paddlepaddle"}
COVERED = [e for e in declared.entries() if e.missing is None]


@pytest.mark.parametrize("entry", COVERED, ids=[str(e.path) for e in COVERED])
def test_the_repro_reproduces_its_finding(entry):
    if not flavours.installed(entry.flavour):
        pytest.skip(f"{entry.flavour} is not installed here: {flavours.install_hint(entry.flavour)}")
    version = importlib.metadata.version(DISTRIBUTIONS[entry.flavour])
    d = entry.declaration
    behaviour, params = case(entry.check_id)
    applies = any(c.applies(entry.flavour, behaviour.id, params, version)   # on the CPU
                  for c in covering(entry.flavour, behaviour.id, params))
    done = subprocess.run([sys.executable, str(ROOT / "docs/repros" / entry.path)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **flavours.environment(entry.flavour)})
    assert done.returncode == (1 if applies else 0), f"{entry.path} ({d.name}, {version}):\n{done.stdout}{done.stderr[-2000:]}"
    assert ("DIFFERS from the formula" if applies else "matches the formula") in done.stdout
