"""Every repro in docs/repros run alone, where its framework is installed (listed in the flavours' manifests'
self_tests, so each flavour's tox environment runs its own; elsewhere skipped, with the reason): it exits 1 where
a declaration of its check applies to the installed version on the device the script runs its layer on (the CPU, or
cuda for a declaration scoped to cuda): its own, or another of another version range, which its docstring names; and
0 (the deviation fixed) where none does. A cuda-scoped repro on a machine whose
framework sees no CUDA device (asked in a process of its own) exits 0 saying it needs one."""
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
CUDA_PROBES = {"torch": "import torch; print(torch.cuda.is_available())"}   # framework -> prints whether it sees CUDA


def device_of(entry) -> str | None:
    """The device the entry's script runs its layer on: the CPU, or cuda for a declaration scoped to cuda; None where
    that is cuda and the framework here sees no CUDA device."""
    devices = entry.declaration.devices or ["cpu"]
    if "cpu" in devices:
        return "cpu"
    assert list(devices) == ["cuda"] and entry.flavour in CUDA_PROBES, f"{entry.path}: no probe for devices {devices}"
    probe = subprocess.run([sys.executable, "-c", CUDA_PROBES[entry.flavour]], capture_output=True, text=True,
                           timeout=300, check=True)
    return "cuda" if probe.stdout.split()[-1] == "True" else None


@pytest.mark.parametrize("entry", COVERED, ids=[str(e.path) for e in COVERED])
def test_the_repro_reproduces_its_finding(entry):
    if not flavours.installed(entry.flavour):
        pytest.skip(f"{entry.flavour} is not installed here: {flavours.install_hint(entry.flavour)}")
    version = importlib.metadata.version(DISTRIBUTIONS[entry.flavour])
    d = entry.declaration
    behaviour, params = case(entry.check_id)
    device = device_of(entry)
    done = subprocess.run([sys.executable, str(ROOT / "docs/repros" / entry.path)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **flavours.environment(entry.flavour)})
    if device is None:
        assert done.returncode == 0, f"{entry.path} ({d.name}, {version}, no CUDA):\n{done.stdout}{done.stderr[-2000:]}"
        assert "does not apply here: needs a CUDA device" in done.stdout
        return
    applies = any(c.applies(entry.flavour, behaviour.id, params, version, device)
                  for c in covering(entry.flavour, behaviour.id, params))
    assert done.returncode == (1 if applies else 0), f"{entry.path} ({d.name}, {version}, {device}):\n{done.stdout}{done.stderr[-2000:]}"
    assert ("DIFFERS from the formula" if applies else "matches the formula") in done.stdout
