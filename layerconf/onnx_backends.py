"""``--onnx-backend module:Backend``: the onnx.backend.base.Backend that the onnx-backend flavour runs the suite's
ONNX models through (https://github.com/onnx/onnx/blob/main/docs/ImplementingAnOnnxBackend.md).

The value is checked before any work: its form, that the module imports and has the attribute, and that the
attribute has the API the adapter calls (``prepare(model, device)`` returning a representation whose
``run(inputs)`` gives the outputs, and ``supports_device(device)``). A backend of a runtime that a shipped
flavour runs (the top-level package of its module, mapped by the onnx-backend manifest's ``options.runtimes``)
takes that flavour's declared deviations: ONNX Runtime's backend, onnxruntime's.
"""
import importlib
import re
import types

OPTION = "--onnx-backend"
FORM = "module:Backend"
EXAMPLE = "onnxruntime.backend.backend:OnnxRuntimeBackend"
SPELLING = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class BadBackend(ValueError):
    """The option is missing where a flavour needs it, or names no usable Backend; the message says which."""


def load(value: str):
    """The object ``module:Backend`` names, checked to have the onnx backend API."""
    expected = f"the form {FORM}, naming an onnx.backend.base.Backend (e.g. {EXAMPLE})"
    if not isinstance(value, str) or not SPELLING.match(value):
        raise BadBackend(f"{OPTION}: expected {expected}, got {value!r}")
    module, _, attribute = value.partition(":")
    try:
        backend = importlib.import_module(module)
    except ImportError as err:
        raise BadBackend(f"{OPTION} {value}: cannot import {module} ({err}); expected {expected}") from err
    for part in attribute.split("."):
        if not hasattr(backend, part):
            raise BadBackend(f"{OPTION} {value}: {module} has no {attribute}; expected {expected}")
        backend = getattr(backend, part)
    if missing := [m for m in ("prepare", "supports_device") if not callable(getattr(backend, m, None))]:
        raise BadBackend(f"{OPTION} {value}: {attribute} has no {' or '.join(missing)}: not an onnx.backend.base.Backend; "
                         f"expected {expected}")
    return backend


def module(backend) -> str:
    """The module that defines ``backend``."""
    return backend.__name__ if isinstance(backend, types.ModuleType) else backend.__module__


def runtime(backend, manifest: dict) -> str | None:
    """The shipped flavour whose runtime ``backend`` is (``options.runtimes`` of the needing flavour's manifest, by the
    backend's package), whose declared deviations apply to it; None for a runtime no shipped flavour runs."""
    return manifest.get("options", {}).get("runtimes", {}).get(module(backend).split(".")[0])


def checked(value: str | None, selected: list[str], needing: list[str]):
    """The backend ``value`` names, loaded, when a selected flavour needs it (``needing``); None when none does.
    A value no selected flavour takes, or one missing where a flavour needs it, raises BadBackend."""
    if value is not None and not needing:
        raise BadBackend(f"{OPTION}: no selected flavour runs an ONNX backend ({', '.join(selected) or 'none'}); "
                         f"select onnx-backend with --flavour onnx-backend")
    if value is None and needing:
        raise BadBackend(f"--flavour {', '.join(needing)} needs {OPTION} {FORM}: an onnx.backend.base.Backend to run "
                         f"the ONNX models through (e.g. {OPTION} {EXAMPLE})")
    return load(value) if needing else None
