"""The audit's Flax nnx part: an ``nnx.Module``, observed on clones by wrapping its training-flag classes' __call__.

The step runs on ``nnx.clone(model)`` and the inference call (``model.eval()``, then ``model(x)``) on another clone,
so the user's model is never touched. Each training-flag layer of the clones carries its path as an attribute (a
static field, so it survives nnx.jit's split and merge), and its class's ``__call__`` is wrapped while the audit
runs: each call records the flag it resolved (``use_running_average`` / ``deterministic``, given or the module's
own), and its input, output and variables where they are concrete (eager, or the primal under an eager nnx.grad);
under nnx.jit the statistics tell the mode. nnx freezes through the optimizer's ``wrt`` filter, which the model does
not hold: a layer is frozen when the step changed none of its Params while it changed others of the model.
"""
import inspect

import numpy as np

from layerconf.audit import keras3, neutral
from layerconf.audit.records import INFERENCE, TRAINING, Call, Layer, Observed, recording
from layerconf.audit.target import AuditError

SEPARATOR = "."
LR = 1e-3
TAG = "_layerconf_audit_path"
DEFAULT_STEP = (f"default: model.train(), the mean of the squared outputs as the loss, nnx.grad over the nnx.Params, "
                f"one nnx.Optimizer(model, optax.sgd({LR:g}), wrt=nnx.Param) update")
KEPT = "unchanged: the step and the inference call ran on nnx.clone(model)"
STATE = {"scale": "gamma", "bias": "beta", "mean": "running_mean", "var": "running_var"}
WEIGHTS, STATISTICS = ("scale", "bias"), ("mean", "var")
FLAGS = ("use_running_average", "deterministic")   # the inference flags (a call's, else the module's)
# the JAX frameworks' shared words (Flax's momentum is Keras's)
MOMENTUM = ("Flax's momentum weighs the old value (ra_mean = momentum ra_mean + (1 - momentum) batch mean): torch's "
            "momentum=0.1 is Flax's momentum=0.9; if that is what you meant, write {setting}")
EPS = "raise it to the dtype's resolution or above: {setting} (or param_dtype=jnp.float32 for the statistics)"
FIXES = {
    "frozen_statistics_move": "leaving {part}'s Params out of the optimizer's wrt filter freezes the weights only: "
                              "BatchNorm writes its BatchStat in every training call; call {part}.eval() after every "
                              "model.train(), or pass use_running_average=True to its BatchNorm calls",
    "inference_layer_training": "model.train() sets use_running_average=False and deterministic=False on every "
                                "submodule and undoes {part}.eval(): call {part}.eval() after model.train() in each epoch",
    "inference_only_while_frozen": "call {part}.eval() where it must stay in inference",
    "training_in_inference": "call model.eval() before inference, and pass no use_running_average=False or "
                             "deterministic=False at the call",
    "momentum_convention": MOMENTUM,
    "eps_below_resolution": EPS,
    "tiny_batch": "train with more examples per device, BatchNorm(axis_name=...) under a mapped axis to average the "
                  "statistics across devices, or nnx.GroupNorm",
}


def expression(path: str) -> str:
    """The module at ``path`` as Python: model.base.layers[1]."""
    parts = [p for p in path.split(SEPARATOR) if p]
    return "model" + "".join(f"[{p}]" if p.isdigit() else f".{p}" if p.isidentifier() else f"[{p!r}]" for p in parts)


def observe(flavour, target) -> Observed:
    """Run the target's step and an inference call on clones of its model; every training-flag layer observed."""
    import jax.numpy as jnp
    from flax import nnx
    model = target.model
    if not isinstance(model, nnx.Module):
        raise AuditError(f"TARGET {target.name}: --flavour {flavour.name} needs an flax.nnx.Module as the model, "
                         f"got a {type(model).__module__}.{type(model).__name__}")
    batch = jnp.asarray(target.batch)
    found = _found(model, known(flavour.profile, "flax.nnx"))
    stepped, inferred = nnx.clone(model), nnx.clone(model)
    for clone in (stepped, inferred):
        for path, layer in _modules(clone, found):
            setattr(layer, TAG, path)
    before = {path: _state(layer) for path, layer in _modules(stepped, found)}
    params = _leaves(nnx.state(stepped, nnx.Param))
    with Wrapped({cls for cls, _, _ in found.values()}, flag) as wrapped:
        with recording(wrapped) as step_calls:
            (target.step or default_step)(stepped, batch)
        with recording(wrapped) as inference_calls:
            inferred.eval()
            inferred(batch)
    after = {path: _state(layer) for path, layer in _modules(stepped, found)}
    optimized = any(not np.array_equal(a, b) for a, b in zip(params, _leaves(nnx.state(stepped, nnx.Param))))
    layers = [_layer(path, layer, found[path], flavour.profile, before[path], after[path], optimized,
                     {"step": step_calls.get(path), "inference": inference_calls.get(path)})
              for path, layer in _modules(model, found)]
    import flax
    return Observed(layers, f"flax {flax.__version__}", KEPT, "yours (the target's step)" if target.step else DEFAULT_STEP,
                    f"{tuple(batch.shape)} {batch.dtype}")


def default_step(model, batch) -> None:
    """DEFAULT_STEP."""
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx
    model.train()

    def loss(model):
        return sum(jnp.mean(jnp.square(t)) for t in jax.tree.leaves(model(batch)))
    grads = nnx.grad(loss)(model)
    nnx.Optimizer(model, optax.sgd(LR), wrt=nnx.Param).update(model, grads)


def known(profile, package: str) -> dict:
    """The profile's training-flag classes that ``package`` (flax.nnx, flax.linen) has -> (family, kind)."""
    import importlib
    module = importlib.import_module(package)
    out = {}
    for name, family_kind in neutral.classes(profile).items():
        cls = getattr(module, name, None) if name.isidentifier() else None
        if isinstance(cls, type):
            out.setdefault(cls, family_kind)
    return out


def _found(model, known) -> dict:
    """path -> (class, family, kind) of every training-flag module (Dropout with broadcast_dims: channel)."""
    from flax import nnx
    out = {}
    for path, node in nnx.iter_graph(model):
        matches = [cls for cls in type(node).__mro__ if cls in known] if isinstance(node, nnx.Module) else []
        if matches:
            family, kind = known[matches[0]]
            kind = "channel" if family == "dropout" and getattr(node, "broadcast_dims", ()) else kind
            out[SEPARATOR.join(map(str, path)) or "(model)"] = (matches[0], family, kind)
    return out


def _modules(model, found):
    from flax import nnx
    named = {SEPARATOR.join(map(str, path)) or "(model)": node for path, node in nnx.iter_graph(model)}
    return [(path, named[path]) for path in found]


def numpy(value):
    """A concrete array (or the primal of an eager gradient's tracer) as NumPy float64; None under jit."""
    import jax
    try:
        return np.array(jax.lax.stop_gradient(value), dtype=np.float64)
    except Exception:   # a jit tracer refuses conversion: the pass ran traced
        return None


def _leaves(state) -> list:
    import jax
    return [np.asarray(leaf) for leaf in jax.tree.leaves(state)]


def _state(layer) -> dict:
    """The layer's scale, bias, mean and var, by the reference's names, where it has them (and concrete)."""
    out = {}
    for name, key in STATE.items():
        variable = getattr(layer, name, None)
        value = None if variable is None else numpy(variable[...])
        if value is not None:
            out[key] = value
    return out


def flag(module, call, args, kwargs) -> bool | None:
    """The training flag Flax resolves at ``call(module, *args, **kwargs)``: not (the call's use_running_average /
    deterministic, else the module's own); None where the module has neither."""
    try:
        given = inspect.signature(call).bind(module, *args, **kwargs).arguments
    except TypeError:   # a call Python would refuse too: the module's own flag
        given = {}
    for name in FLAGS:
        value = given.get(name) if given.get(name) is not None else getattr(module, name, None)
        if value is not None:
            return not value
    return None


class Wrapped:
    """The classes' ``__call__`` replaced, while in the context, by one that records a records.Call per pass for
    instances carrying TAG (by their path); ``flag(module, args, kwargs)`` tells the call's training flag."""

    def __init__(self, classes, flag):
        self.classes, self.flag, self.calls, self.saved = classes, flag, None, {}

    def __enter__(self):
        for cls in self.classes:
            self.saved[cls] = vars(cls).get("__call__")
            cls.__call__ = self._wrapper(cls.__call__)
        return self

    def __exit__(self, *exc):
        for cls, own in self.saved.items():
            if own is None:
                del cls.__call__
            else:
                cls.__call__ = own

    def _wrapper(self, call):
        def recorded(module, x, *args, **kwargs):
            path = getattr(module, TAG, None)
            record = None if path is None or self.calls is None else self.calls.get(path)
            if path is None or self.calls is None or record is not None:
                if record is not None:
                    record.calls += 1
                return call(module, x, *args, **kwargs)
            before = _state(module)
            y = call(module, x, *args, **kwargs)
            shape = getattr(x, "shape", ())
            self.calls[path] = Call(self.flag(module, call, (x, *args), kwargs), int(shape[0]) if shape else None,
                                    str(getattr(y, "dtype", "")) or None, numpy(x), numpy(y), before, _state(module))
            return y
        return recorded


def _changed(before: dict, after: dict, names) -> bool | None:
    keys = [STATE[n] for n in names if STATE[n] in before and STATE[n] in after]
    return None if not keys else any(not np.array_equal(before[k], after[k]) for k in keys)


def _left_in(layer) -> str | None:
    value = next((getattr(layer, name) for name in FLAGS if getattr(layer, name, None) is not None), None)
    return None if value is None else INFERENCE if value else TRAINING


def _layer(path, layer, found, profile, before, after, optimized, calls) -> Layer:
    cls, family, kind = found
    weights = _changed(before, after, WEIGHTS)
    statistic = getattr(layer, "var", None)
    step = calls["step"] or calls["inference"]

    def read(name):
        return getattr(layer, name, neutral.MISSING)

    return Layer(path, f"{cls.__module__}.{cls.__name__}", family, kind, neutral.settings(profile, family, read),
                 keras3._layout(layer, step) if family == "batchnorm" else None,
                 str(statistic[...].dtype) if statistic is not None else step.dtype if step else None,
                 None if weights is None or not optimized else not weights, _left_in(layer),
                 weights, _changed(before, after, STATISTICS), calls)
