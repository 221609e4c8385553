"""TARGET: ``module:function`` (a module importable from here or the current folder) or ``path/to/file.py:function``;
the function takes no argument and returns (model, batch) or (model, batch, step), step(model, batch) being the
training step the user runs. Anything else is an AuditError, the command's exit status 2."""
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path


class AuditError(ValueError):
    """Bad input: the message says what was given and what is allowed."""


@dataclass
class Target:
    name: str
    model: object
    batch: object
    step: object = None


def load(text: str) -> Target:
    """Import the function TARGET names, call it and check the shape of what it returns."""
    module_name, _, function_name = text.rpartition(":")
    if not module_name or not function_name:
        raise AuditError(f"TARGET must be module:function or path/to/file.py:function, got {text!r}")
    module = _module(module_name)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise AuditError(f"TARGET {text}: module {module_name} has no function {function_name!r}")
    try:
        returned = function()
    except Exception as err:   # the user's code: its error is the message
        raise AuditError(f"TARGET {text}: calling {function_name}() raised {type(err).__name__}: {err}") from err
    if not isinstance(returned, tuple) or len(returned) not in (2, 3) or len(returned) == 3 and not callable(returned[2]):
        raise AuditError(f"TARGET {text}: {function_name}() must return (model, batch) or (model, batch, step) with step "
                         f"a function step(model, batch); it returned {_describe(returned)}")
    return Target(text, *returned)


def _module(name: str):
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise AuditError(f"TARGET: no file {name}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))   # as python -m does: the current folder's modules
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        raise AuditError(f"TARGET: no module named {name!r} ({err})") from err


def _describe(value) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}: ({', '.join(type(v).__name__ for v in value)})"
    return f"a {type(value).__name__}"
