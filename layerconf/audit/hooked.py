"""What the eager frameworks with a module tree and forward hooks (torch, paddle) share: the training-flag modules
found by class, the step and the inference call run on two deep copies with hooks on the copies' modules, and each
module's state read before and after.

A framework part describes its tree once (``Tree``): how to name every module, read a module's own state as NumPy
(by the reference's names: gamma, beta, running_mean, running_var), tell a tensor, read one as NumPy, and register
a pre- and a post-forward hook. At each module's first call in a pass the hooks keep a records.Call: the module's
``training`` flag, its input and output, its state before and after; later calls are counted.
"""
import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from layerconf.audit.records import Call

LAYOUTS = {2: "NC", 3: "NCL", 4: "NCHW", 5: "NCDHW"}   # channels first, by the input's rank
LAST = {2: "NC", 3: "NLC", 4: "NHWC", 5: "NDHWC"}       # channels last


@dataclass(frozen=True)
class Tree:
    """One framework's module tree: ``named(model)`` -> (path, module) pairs, the model itself at path '';
    ``state(module)`` -> {name: NumPy}; ``is_tensor(x)``; ``numpy(tensor)`` -> float64 NumPy; ``dtype(tensor)`` ->
    'float32'; ``hook(module, pre, post)`` -> handles with ``remove()``, pre(module, args), post(module, args, out)."""

    named: Callable
    state: Callable
    is_tensor: Callable
    numpy: Callable
    dtype: Callable
    hook: Callable


@dataclass
class Run:
    """The passes' records: each module's state before and after the step, each pass's calls by path."""

    before: dict
    after: dict
    step: dict
    inference: dict

    def calls(self, path: str) -> dict:
        """{pass: the module's records.Call in it, or None} for the module at ``path``."""
        return {"step": self.step.get(path), "inference": self.inference.get(path)}


def tensors(out, is_tensor: Callable) -> list:
    """The tensors in a model's output: itself, or those nested in its tuples, lists and dicts."""
    if is_tensor(out):
        return [out]
    values = out.values() if isinstance(out, dict) else out if isinstance(out, (tuple, list)) else []
    return [t for v in values for t in tensors(v, is_tensor)]


def found(tree: Tree, model, known: dict) -> dict:
    """path -> (class, family, kind) of every module whose class (the most derived one ``known`` names) is a
    training-flag class; the model itself is '(model)'."""
    out = {}
    for path, module in tree.named(model):
        matches = [cls for cls in type(module).__mro__ if cls in known]
        if matches:
            out[path or "(model)"] = (matches[0], *known[matches[0]])
    return out


def modules(tree: Tree, model, found: dict) -> list:
    """The (path, module) pairs of ``found`` in ``model`` (or a copy of it)."""
    named = {path or "(model)": module for path, module in tree.named(model)}
    return [(path, named[path]) for path in found]


def run(tree: Tree, model, found: dict, step, inference) -> Run:
    """``step(copy)`` on one deep copy of the model and ``inference(copy)`` on another, hooked; the user's model is
    not touched."""
    stepped, inferred = copy.deepcopy(model), copy.deepcopy(model)
    before = {path: tree.state(module) for path, module in modules(tree, stepped, found)}
    with _Hooks(tree, modules(tree, stepped, found)) as step_calls:
        step(stepped)
    after = {path: tree.state(module) for path, module in modules(tree, stepped, found)}
    with _Hooks(tree, modules(tree, inferred, found)) as inference_calls:
        inference(inferred)
    return Run(before, after, step_calls, inference_calls)


def changed(before: dict, after: dict, keys) -> bool | None:
    """Whether any of ``keys`` (those the module has) changed; None where it has none."""
    keys = [k for k in keys if k in before]
    return None if not keys else any(not np.array_equal(before[k], after[k]) for k in keys)


def layout(channels_first: bool, x) -> str | None:
    """The reference's layout of an input ``x`` (NumPy) of that channel order; None without one."""
    return None if x is None else (LAYOUTS if channels_first else LAST).get(x.ndim)


class _Hooks:
    """The tree's hooks on (path, module) pairs; the first call of each is kept as a records.Call (by path)."""

    def __init__(self, tree: Tree, modules):
        self.tree, self.modules, self.calls, self.handles = tree, modules, {}, []

    def __enter__(self) -> dict:
        tree = self.tree
        for path, module in self.modules:
            def pre(module, args, path=path):
                if path in self.calls:
                    self.calls[path].calls += 1
                    return
                x = args[0] if args and tree.is_tensor(args[0]) else None
                self.calls[path] = Call(module.training, None if x is None or not x.shape else int(x.shape[0]),
                                        x=None if x is None else tree.numpy(x), before=tree.state(module))

            def post(module, args, output, path=path):
                call = self.calls[path]
                if call.calls == 1 and tree.is_tensor(output):
                    call.y, call.dtype, call.after = tree.numpy(output), tree.dtype(output), tree.state(module)
            self.handles += tree.hook(module, pre, post)
        return self.calls

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
