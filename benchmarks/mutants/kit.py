"""The patch toolkit every mutant module uses: register a mutant flat, replace a framework function or method,
edit one line of its source, set attributes for one call.

    @mutant("do_unscaled", "torch.nn.functional.dropout", bind=True)
    def _(dropout, input, p, training, inplace): ...          # replaces F.dropout; gets the original first

    edited("do_unscaled", "equinox.nn.Dropout.__call__", ("x / q", "_hit(x)"))   # a one-line source edit

A target is a dotted path (the longest importable prefix is imported, the rest looked up as attributes), an (owner,
attribute name) pair or a (dict, key) pair; nothing is resolved before the mutant is installed.
"""
import contextlib
import functools
import importlib
import inspect
import re
import sys
import textwrap

from benchmarks.mutants import INSTALLS, hit

__all__ = ["attributes", "edit", "edited", "hit", "mutant", "replace"]


def resolve(target):
    """(owner, attribute name) of a target."""
    if not isinstance(target, str):
        return target
    parts = target.split(".")
    for k in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:k]))
            break
        except ModuleNotFoundError:
            continue
    for part in parts[k:-1]:
        owner = getattr(owner, part)
    return owner, parts[-1]


def replace(target, fn, bind=False, once=False):
    """Replace the target by a wrapper calling fn(original, *args, **kwargs); with ``bind``, fn(original, **arguments)
    with every argument bound by name (defaults applied). With ``once`` a call the wrapper makes while it runs (a
    re-dispatch to itself, as under torch.export's tracing) runs the original unchanged."""
    owner, name = resolve(target)
    original = owner[name] if isinstance(owner, dict) else getattr(owner, name)
    signature = inspect.signature(original) if bind else None
    active = []

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if active:
            return original(*args, **kwargs)
        if bind:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            args, kwargs = (), bound.arguments
        if once:
            active.append(name)
        try:
            return fn(original, *args, **kwargs)
        finally:
            active.clear()

    if isinstance(owner, dict):
        owner[name] = wrapper
    else:
        setattr(owner, name, wrapper)


def mutant(name, *targets, bind=False, once=False):
    """Register mutant ``name``: without targets the decorated function is its install; with targets it replaces
    each of them (``replace``)."""
    def register(fn):
        INSTALLS[name] = (lambda: [replace(t, fn, bind, once) for t in targets]) if targets else fn
        return fn
    return register


def _hit(value=None):
    """An edited expression's value, the call counted (at trace time under jit)."""
    hit()
    return value


def edit(target, *replacements):
    """Replace the target function by its own source with each (old, new) replacement made exactly once, compiled
    in its module's namespace (where ``_hit`` marks the edit); ``old`` matches whatever whitespace separates its
    tokens. An edit that no longer matches raises, so a changed upstream is noticed."""
    owner, name = resolve(target)
    original = getattr(owner, name)
    source = textwrap.dedent(inspect.getsource(original))
    for old, new in replacements:
        pattern = re.compile(r"\s*".join(map(re.escape, old.split())))
        if len(pattern.findall(source)) != 1:
            raise RuntimeError(f"{target} has {len(pattern.findall(source))} copies of {old!r}")
        source = pattern.sub(lambda _, new=new: new, source)
    namespace = {**vars(sys.modules[original.__module__]), "_hit": _hit}
    exec(compile(source, f"<mutant of {original.__module__}.{original.__qualname__}>", "exec"), namespace)
    setattr(owner, name, namespace[original.__name__])


def edited(name, target, *replacements):
    """Register mutant ``name`` as a source edit of the target (``edit``)."""
    INSTALLS[name] = lambda: edit(target, *replacements)


@contextlib.contextmanager
def attributes(obj, raw=False, **values):
    """obj's attributes set to ``values`` for one call, then put back; ``raw`` bypasses the class's __setattr__
    (Keras' tracking, linen's frozen dataclass fields)."""
    put = object.__setattr__ if raw else setattr
    old = {k: getattr(obj, k) for k in values}
    for k, v in values.items():
        put(obj, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            put(obj, k, v)
