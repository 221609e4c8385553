"""The registry of flavours, derived from their manifests (specs/flavours/<flavour>.yaml, and the flavour files
other packages register by entry point: layerconf.external).

A flavour is a framework run one way (torch eager, Keras 3 on JAX, ...). Its manifest names its adapter
module, the modules it imports, and the process environment it needs before the framework is imported
(Keras 3 reads KERAS_BACKEND once): a flavour runs only in a process where that environment holds. A flavour
may need a command-line option (``needs_option``: onnx-backend needs --onnx-backend); its value reaches the
adapter as one of the flavour's options.
"""
import importlib
import importlib.util
import os
from dataclasses import dataclass

from layerconf import external, specs


@dataclass(frozen=True)
class Flavour:
    """What an adapter is given of its flavour: the name, the manifest (``options``: how the adapter runs the
    framework for this flavour, e.g. compile: true) and the profile. Adapters read nothing else about it."""

    name: str
    manifest: dict
    profile: specs.Profile

    def option(self, key: str, default=None):
        """The manifest's ``options.<key>``, or ``default``."""
        return self.manifest.get("options", {}).get(key, default)


class UnknownFlavour(ValueError):
    """A name that is not a flavour; the message lists the flavours."""


def names() -> list[str]:
    """The shipped flavours and those other packages register, in name order."""
    return sorted({*specs.flavour_names(), *external.names()})


def manifest(name: str) -> dict:
    if name not in names():
        raise UnknownFlavour(f"--flavour must be one of {names()}, got {name!r}")
    return specs.manifest(name)


def missing(name: str) -> str | None:
    """The first module of the manifest's ``imports`` that is not importable here, or None. A namespace package (a
    folder of that name on sys.path with no __init__.py, e.g. in the working directory: a spec with no origin) is
    not the framework."""
    for module in manifest(name)["imports"]:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):   # a dotted name whose parent is missing, or a module with no spec
            spec = None
        if spec is None or spec.origin in (None, "namespace"):
            return module
    return None


def installed(name: str) -> bool:
    """Every module the flavour imports is importable (``missing``)."""
    return missing(name) is None


def install_hint(name: str) -> str:
    """What is missing for the flavour and the extra that brings it: 'no module torchvision: pip install
    "layerconf[torch]"' (for a flavour another package registers, that package's extra); empty where nothing is."""
    module = missing(name)
    if not module:
        return ""
    found = specs.external(name)
    package = found.package if found and found.package else "layerconf"
    return f'no module {module}: pip install "{package}[{manifest(name)["extra"]}]"'


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


def needed_option(name: str) -> str | None:
    """The command-line option the flavour cannot run without (manifest ``needs_option``), or None."""
    return manifest(name).get("needs_option")


def option_key(option: str) -> str:
    """The flavour option a command-line option's value becomes: --onnx-backend -> onnx_backend."""
    return option.lstrip("-").replace("-", "_")


def shares_process(name: str) -> bool:
    """The flavour can run in this process: its environment variables hold."""
    return all(os.environ.get(k) == v for k, v in environment(name).items())


def default(given=()) -> list[str]:
    """Installed flavours that can run in this process, and whose needed option is among ``given``."""
    return [n for n in names() if installed(n) and shares_process(n) and needed_option(n) in (None, *given)]


def load_adapter(name: str, device: str = "cpu", options: dict | None = None):
    """Import the flavour's adapter module and build its Adapter from the flavour (``Flavour``, its manifest's
    options with ``options`` laid over them: the values of command-line options it needs) and the device."""
    found = manifest(name)
    found = {**found, "options": {**found.get("options", {}), **(options or {})}}
    flavour = Flavour(name, found, specs.profile(name))
    return importlib.import_module(flavour.manifest["adapter"]).make_adapter(flavour, device)
