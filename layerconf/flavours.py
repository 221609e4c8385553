"""The registry of flavours, derived from their manifests (specs/flavours/<flavour>.yaml).

A flavour is a framework run one way (torch eager, Keras 3 on JAX, ...). Its manifest names its adapter
module, the modules it imports, and the process environment it needs before the framework is imported
(Keras 3 reads KERAS_BACKEND once): a flavour runs only in a process where that environment holds.
"""
import importlib
import importlib.util
import os

from layerconf import specs


class UnknownFlavour(ValueError):
    """A name that is not a flavour; the message lists the flavours."""


def names() -> list[str]:
    return specs.flavour_names()


def manifest(name: str) -> dict:
    if name not in names():
        raise UnknownFlavour(f"--framework must be one of {names()}, got {name!r}")
    return specs.manifest(name)


def installed(name: str) -> bool:
    """Every module the flavour imports can be found."""
    return all(importlib.util.find_spec(module) is not None for module in manifest(name)["imports"])


def environment(name: str) -> dict[str, str]:
    """The process environment the flavour needs (e.g. KERAS_BACKEND=jax)."""
    return dict(manifest(name)["environment"])


def devices(name: str) -> list[str]:
    """The --device values the flavour's adapter can run on."""
    return list(manifest(name)["devices"])


def device_kind(description: str) -> str:
    """'cpu' or 'cuda' from a framework's own name of a device ('cuda:0', 'TFRT_CPU_0', '/device:GPU:0',
    'CudaDevice(id=0)'), as --device spells it; the description itself when it names neither."""
    text = description.lower()
    return "cuda" if "cuda" in text or "gpu" in text else "cpu" if "cpu" in text else description


def shares_process(name: str) -> bool:
    """The flavour can run in this process: its environment variables hold."""
    return all(os.environ.get(k) == v for k, v in environment(name).items())


def default() -> list[str]:
    """Installed flavours that can run in this process."""
    return [n for n in names() if installed(n) and shares_process(n)]


def load_adapter(name: str, device: str = "cpu"):
    """Import the flavour's adapter module and build its Adapter."""
    return importlib.import_module(manifest(name)["adapter"]).make_adapter(name, device)
