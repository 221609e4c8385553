"""Any ONNX runtime through ONNX's backend API: the one-node models of adapters/onnx_models.py (the onnxruntime and
onnx-reference flavours' models), run by ``Backend.prepare(model, device).run(inputs)`` of the
onnx.backend.base.Backend that --onnx-backend names (the flavour's option ``onnx_backend``; layerconf.onnx_backends
loads and checks it).

The inputs go as a list, in the order of the graph inputs no initializer feeds (the convention of onnx's backend
test runner), and the outputs come back in the graph's order. The API has no seed, so a Dropout node without a seed
attribute draws as the runtime does (profile not_expressible/dropout.seeding). A model a native runtime may crash on
(onnx_models.crash_prone) runs in a forked child on CPU, as the onnxruntime flavour runs it. The API does not say
where a backend places its arrays: ``environment()`` records the device asked of ``prepare`` (which
``supports_device`` accepted), the backend, the distribution that ships it (``version()`` is that distribution's
version, 0+unknown for a backend outside any) and the flavour whose declared deviations apply to it.
"""
import importlib.metadata
import sys
from pathlib import Path

import onnx

from layerconf import onnx_backends
from layerconf.adapters.base import DeviceUnavailable
from layerconf.adapters.onnx_models import ChildSession, OnnxAdapter, crash_prone

DEVICES = {"cpu": "CPU", "cuda": "CUDA"}   # onnx.backend.base.Device's spelling
UNKNOWN_VERSION = "0+unknown"


class BackendSession:
    """``run(output_names, feeds)``, as onnx_models calls a session, over a Backend's prepared representation."""

    def __init__(self, representation, model: onnx.ModelProto):
        initialized = {t.name for t in model.graph.initializer}
        self.representation = representation
        self.inputs = [i.name for i in model.graph.input if i.name not in initialized]
        self.outputs = [o.name for o in model.graph.output]

    def run(self, output_names, feeds):
        results = list(self.representation.run([feeds[name] for name in self.inputs]))
        return results if output_names is None else [results[self.outputs.index(n)] for n in output_names]


class BackendAdapter(OnnxAdapter):
    def __init__(self, flavour, device: str):
        self.spec = flavour.option("onnx_backend")
        self.backend = onnx_backends.load(self.spec)
        if not self.backend.supports_device(DEVICES[device]):
            raise DeviceUnavailable(f"--device {device}: {self.spec}.supports_device({DEVICES[device]!r}) is false")
        super().__init__(flavour, device)
        self.distribution = _distribution(onnx_backends.module(self.backend))
        self.declarations_of = onnx_backends.runtime(self.backend, flavour.manifest)

    def session(self, model):
        if self.device == "cpu" and crash_prone(model):
            return ChildSession(self._session, model, self.spec)
        return self._session(model)

    def _session(self, model):
        return BackendSession(self.backend.prepare(model, DEVICES[self.device]), model)

    def version(self):
        return self.distribution.version if self.distribution else UNKNOWN_VERSION

    def environment(self):
        shipped_by = self.distribution and f"{self.distribution.metadata['Name']} {self.distribution.version}"
        return {"device": self.device, "backend": self.spec, "backend_device": DEVICES[self.device],
                "distribution": shipped_by, "deviations_of": self.declarations_of, "onnx": onnx.__version__}

    def seed(self, seed):
        """Nothing to seed: the backend API has none (profile not_expressible/dropout.seeding)."""


def _distribution(module: str) -> importlib.metadata.Distribution | None:
    """The installed distribution whose files hold ``module``, or None (a module of a checkout)."""
    path = Path(sys.modules[module].__file__).resolve()
    for name in importlib.metadata.packages_distributions().get(module.split(".")[0], []):
        dist = importlib.metadata.distribution(name)
        if any(Path(dist.locate_file(f)).resolve() == path for f in dist.files or ()):
            return dist
    return None


def make_adapter(flavour, device: str = "cpu") -> BackendAdapter:
    return BackendAdapter(flavour, device)
