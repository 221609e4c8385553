"""The mutation benchmark's registry: bugs.yaml against the behaviour catalogue, the manifests and the mutant modules,
which are imported with every framework replaced by a stub (registering a mutant resolves and patches nothing)."""
import importlib
import importlib.abc
import importlib.machinery
import sys
import types

import pytest

from benchmarks.mutants import INSTALLS, bugs, kit
from layerconf import flavours, specs

FRAMEWORKS = {"equinox", "flax", "jax", "keras", "mlx", "onnx", "onnxruntime", "onnxscript", "paddle", "tensorflow", "tf_keras",
              "torch", "torchvision"}
MODULES = sorted({m for f in flavours.names() for m in flavours.manifest(f)["mutants"] if m.startswith("benchmarks.mutants.")})


class _Any:
    """Whatever a module does with a framework at import: attributes, calls, subscripts, a base class."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Any()

    def __call__(self, *args, **kwargs):
        return _Any()

    def __getitem__(self, key):
        return _Any()

    def __mro_entries__(self, bases):
        return (object,)


class _StubModule(types.ModuleType, _Any):
    __path__ = []


class _Stubs(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, self, is_package=True) if name.split(".")[0] in FRAMEWORKS else None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        pass


class _Recording(dict):
    """kit's registry, recording for each name the modules whose top-level code registers it: the innermost module
    of the benchmark being imported (a family's ``register`` counts for the module that calls it)."""

    def __init__(self):
        super().__init__()
        self.modules = {}

    def __setitem__(self, name, install):
        frame = sys._getframe(1)
        while not (frame.f_code.co_name == "<module>" and frame.f_globals["__name__"].startswith("benchmarks.mutants.")):
            frame = frame.f_back
        self.modules.setdefault(frame.f_globals["__name__"].rsplit(".", 1)[1], set()).add(name)
        super().__setitem__(name, install)


def registrations() -> dict:
    """Mutant module -> the names its top-level code registers, every flavour's modules imported, frameworks stubbed."""
    saved, stubs, recording = dict(sys.modules), _Stubs(), _Recording()
    sys.meta_path.insert(0, stubs)
    kit.INSTALLS = recording
    try:
        for name in [n for n in sys.modules if n.split(".")[0] in FRAMEWORKS]:
            del sys.modules[name]
        for module in MODULES:
            importlib.import_module(module)
    finally:
        kit.INSTALLS = INSTALLS
        sys.meta_path.remove(stubs)
        sys.modules.clear()
        sys.modules.update(saved)
    return recording.modules


@pytest.fixture(scope="module")
def registered() -> dict:
    return registrations()


@pytest.mark.parametrize("name", sorted(bugs()))
def test_every_bug_is_described_with_known_behaviours(name):
    bug = bugs()[name]
    assert set(bug) <= {"description", "caught_by", "in", "notes", "not_in"} and isinstance(bug["description"], str)
    assert bug["caught_by"] and set(bug["caught_by"]) <= set(specs.behaviours()), set(bug["caught_by"]) - set(specs.behaviours())
    assert bug["in"] and set(bug.get("notes", {})) <= set(bug["in"]) and set(bug.get("not_in", {})) <= set(flavours.names())


def test_every_registered_mutant_has_an_entry_and_vice_versa(registered):
    listed = {(module, name) for name, bug in bugs().items() for module in bug["in"]}
    assert {(module, name) for module, names in registered.items() for name in names} == listed


def _scaled(x, rate=0.5):
    return x * rate


class _Layer:
    rate = 0.5

    def call(self, x):
        y = x + 1
        return y * 1


def test_kit_replaces_a_target_once_with_its_arguments_bound(monkeypatch):
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "_scaled", _scaled)
    calls = []

    def mutated(original, **a):
        calls.append(a)
        return kit.hit(original(**a) + module._scaled(a["x"], a["rate"]))   # the inner call re-enters: run as it is

    before = kit.hit(False)
    kit.replace(f"{__name__}._scaled", mutated, bind=True, once=True)
    assert module._scaled(2) == 2.0 and calls == [{"x": 2, "rate": 0.5}] and kit.hit(False) is before is False


def test_kit_edits_one_line_of_a_method_and_sets_attributes_for_one_call(monkeypatch):
    from benchmarks.mutants import hits
    monkeypatch.setattr(_Layer, "call", _Layer.call)
    counted = hits()
    with pytest.raises(RuntimeError, match="0 copies"):   # an upstream change is noticed
        kit.edit((_Layer, "call"), ("y = x + 3", "y = x"))
    kit.edit((_Layer, "call"), ("y = x + 1", "y = _hit(x + 2)"))
    layer = _Layer()
    with kit.attributes(layer, rate=0.1):
        assert layer.rate == 0.1 and layer.call(1) == 3 and hits() == counted + 1   # (1 + 2) * 1
    assert layer.rate == 0.5
