"""The audit's Flax linen part: a linen Module with its variables, observed through ``nn.intercept_methods``.

The model is ``(module, variables)`` or ``(module, variables, flags)``: ``variables`` as ``module.init`` returns them
(``params``, ``batch_stats``), ``flags`` the keyword arguments of an inference call (``{"train": False}``); without
them the audit takes the first of ``train``/``training``/``is_training`` (False) or ``deterministic``/
``use_running_average``/``inference`` (True) that ``module.__call__`` has, else none. The step is
``step(model, batch)`` returning the updated variables (or ``(module, variables)``); the default step calls the
module with the flags flipped. The inference pass is ``module.apply(variables, x, **flags)`` with ``batch_stats``
mutable (the updates discarded), so a BatchNorm still training there shows it instead of raising. linen's variables
are immutable arrays: nothing of the user's is changed; the step's new variables are compared and dropped.

The training-flag layers are the ones the passes call: each call records its path (module.path), the flag it
resolved (use_running_average / deterministic, from the call or the module's field), and its input, output and
variables where they are concrete (eager, or the primal under an eager jax.grad); under jax.jit the statistics tell
the mode. linen freezes through the optimizer (optax.multi_transform, set_to_zero): a layer is frozen when the step
changed none of its params while it changed others; a layer without params (Dropout) when its parent's are.
"""
import contextlib
import inspect

import numpy as np

from layerconf.audit import flax_nnx, keras3, neutral
from layerconf.audit.flax_nnx import numpy
from layerconf.audit.records import Call, Layer, Observed, recording
from layerconf.audit.target import AuditError

SEPARATOR = "/"
LR = 1e-3
TRAIN_NAMES, INFERENCE_NAMES = ("train", "training", "is_training"), ("deterministic", "use_running_average", "inference")
DEFAULT_STEP = (f"default: module.apply(variables, x, <the inference flags flipped>, mutable=['batch_stats'], "
                f"rngs={{'dropout': jax.random.key(0)}}), the mean of the squared outputs as the loss, jax.grad over "
                f"params, one optax.sgd({LR:g}) step")
KEPT = "unchanged: linen variables are immutable; the step's new variables were compared and dropped"
STATE = {("params", "scale"): "gamma", ("params", "bias"): "beta", ("batch_stats", "mean"): "running_mean",
         ("batch_stats", "var"): "running_var"}
FIXES = {
    "frozen_statistics_move": "labelling {part}'s params 'frozen' in optax.multi_transform freezes the weights only: "
                              "call {part} with use_running_average=True (your train=False) in the model's __call__, "
                              "and keep batch_stats out of mutable for it",
    "inference_layer_training": "pass {part} train=False (use_running_average=True, deterministic=True) in the "
                                "model's __call__, not the model's own train flag",
    "inference_only_while_frozen": "pass {part} train=False (use_running_average=True) where it must stay in inference",
    "training_in_inference": "call the model with its inference flag (train=False: use_running_average=True, "
                             "deterministic=True) and batch_stats immutable",
    "momentum_convention": flax_nnx.MOMENTUM,
    "eps_below_resolution": flax_nnx.EPS,
    "tiny_batch": "train with more examples per device, BatchNorm(axis_name=...) under a mapped axis to average the "
                  "statistics across devices, or nn.GroupNorm",
}


def expression(path: str) -> str:
    """The submodule at ``path`` as the fix names it: its linen path (base/BatchNorm_0), or the model."""
    return path or "the model"


def observe(flavour, target) -> Observed:
    """The target's step and an inference apply, intercepted; every training-flag layer they call observed."""
    import flax
    import jax.numpy as jnp
    module, variables, flags = _model(flavour, target)
    batch = jnp.asarray(target.batch)
    known = flax_nnx.known(flavour.profile, "flax.linen")
    recorder = _Recorder(known)
    with recorder.recording() as step_calls:
        stepped = target.step(target.model, batch) if target.step else default_step((module, variables, flags), batch)
    stepped = _variables(target, stepped)
    with recorder.recording() as inference_calls:
        module.apply(variables, batch, **flags, rngs=_rngs(), mutable=_mutable(variables))
    optimized = _differs(variables.get("params", {}), stepped.get("params", {}))
    layers = [_layer(path, recorder.modules[path], recorder.found[path], flavour.profile, variables, stepped, optimized,
                     {"step": step_calls.get(path), "inference": inference_calls.get(path)})
              for path in recorder.found]
    return Observed(layers, f"flax {flax.__version__} (linen)", KEPT,
                    "yours (the target's step)" if target.step else DEFAULT_STEP.replace("<the inference flags flipped>",
                                                                                       _spelled(_flipped(flags))),
                    f"{tuple(batch.shape)} {batch.dtype}")


def _model(flavour, target):
    import flax.linen as nn
    model = target.model
    if not (isinstance(model, tuple) and len(model) in (2, 3) and isinstance(model[0], nn.Module)
            and isinstance(model[1], dict) and (len(model) == 2 or isinstance(model[2], dict))):
        raise AuditError(f"TARGET {target.name}: --flavour {flavour.name} needs (module, variables) or (module, "
                         f"variables, flags) as the model: a flax.linen.Module, the dict module.init returns, and the "
                         f"inference call's keyword arguments; got {_describe(model)}")
    return model[0], dict(model[1]), model[2] if len(model) == 3 else _flags(model[0])


def _describe(value) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}: ({', '.join(type(v).__name__ for v in value)})"
    return f"a {type(value).__module__}.{type(value).__name__}"


def _flags(module) -> dict:
    """The inference call's flag, from ``module.__call__``'s parameters (TRAIN_NAMES False, INFERENCE_NAMES True)."""
    names = inspect.signature(module.__call__).parameters
    for name in (*TRAIN_NAMES, *INFERENCE_NAMES):
        if name in names:
            return {name: name in INFERENCE_NAMES}
    return {}


def _flipped(flags: dict) -> dict:
    return {k: not v if isinstance(v, bool) else v for k, v in flags.items()}


def _spelled(flags: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in flags.items()) or "no flag"


def _rngs() -> dict:
    import jax
    return {"dropout": jax.random.key(0)}


def _mutable(variables) -> list:
    return ["batch_stats"] if "batch_stats" in variables else []


def default_step(model, batch) -> dict:
    """DEFAULT_STEP; returns the new variables."""
    import jax
    import jax.numpy as jnp
    import optax
    module, variables, flags = model

    def loss(params):
        out, updates = module.apply({**variables, "params": params}, batch, **_flipped(flags), rngs=_rngs(),
                                    mutable=_mutable(variables))
        return sum(jnp.mean(jnp.square(t)) for t in jax.tree.leaves(out)), updates
    grads, updates = jax.grad(loss, has_aux=True)(variables["params"])
    tx = optax.sgd(LR)
    changes, _ = tx.update(grads, tx.init(variables["params"]))
    return {**variables, **updates, "params": optax.apply_updates(variables["params"], changes)}


def _variables(target, returned) -> dict:
    """The step's new variables: a dict, or the second element of (module, variables)."""
    if isinstance(returned, tuple) and len(returned) >= 2 and isinstance(returned[1], dict):
        returned = returned[1]
    if not isinstance(returned, dict):
        raise AuditError(f"TARGET {target.name}: a flax-linen step must return the updated variables (a dict, or "
                         f"(module, variables)); it returned {_describe(returned)}")
    return dict(returned)


def _differs(a, b) -> bool:
    import jax
    return any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _at(variables: dict, path: tuple) -> dict:
    """The layer's variables by the reference's names (NumPy), from a variables dict at its path."""
    out = {}
    for (collection, name), key in STATE.items():
        node = variables.get(collection, {})
        for part in path:
            node = node.get(part, {}) if hasattr(node, "get") else {}
        value = node.get(name) if hasattr(node, "get") else None
        if value is not None and numpy(value) is not None:
            out[key] = numpy(value)
    return out


def _params(variables: dict, path: tuple):
    """The params below ``path`` (a nested dict; empty where there are none)."""
    node = variables.get("params", {})
    for part in path:
        node = node.get(part, {}) if hasattr(node, "get") else {}
    return node


class _Recorder:
    """An interceptor recording the first __call__ of every known-class module per pass (by path), and each module
    met (path -> module, path -> (class, family, kind)) in the order first met."""

    def __init__(self, known):
        self.known, self.calls, self.modules, self.found = known, None, {}, {}

    @contextlib.contextmanager
    def recording(self):
        """One pass (records.recording) with every module call intercepted."""
        import flax.linen as nn

        with recording(self) as calls, nn.intercept_methods(self._intercept):
            yield calls

    def _intercept(self, next_fun, args, kwargs, context):
        module = context.module
        matches = [cls for cls in type(module).__mro__ if cls in self.known]
        if context.method_name != "__call__" or not matches or self.calls is None:
            return next_fun(*args, **kwargs)
        path = SEPARATOR.join(module.path) or "(model)"
        if path in self.calls:
            self.calls[path].calls += 1
            return next_fun(*args, **kwargs)
        family, kind = self.known[matches[0]]
        kind = "channel" if family == "dropout" and getattr(module, "broadcast_dims", ()) else kind
        self.found.setdefault(path, (matches[0], family, kind))
        self.modules.setdefault(path, module)
        before = _at(module.variables, ())
        x = args[0] if args else None
        y = next_fun(*args, **kwargs)
        shape = getattr(x, "shape", ())
        self.calls[path] = Call(flax_nnx.flag(module, type(module).__call__, args, kwargs), int(shape[0]) if shape else None,
                                str(getattr(y, "dtype", "")) or None, numpy(x), numpy(y), before,
                                _at(module.variables, ()))
        return y


def _layer(path, module, found, profile, variables, stepped, optimized, calls) -> Layer:
    cls, family, kind = found
    parts = tuple(path.split(SEPARATOR)) if path != "(model)" else ()
    before, after = _at(variables, parts), _at(stepped, parts)

    def changed(keys):
        keys = [k for k in keys if k in before and k in after]
        return None if not keys else any(not np.array_equal(before[k], after[k]) for k in keys)

    weights = changed(("gamma", "beta"))
    frozen = None if weights is None or not optimized else not weights
    if weights is None and optimized and _params(variables, parts[:-1]):   # weightless: frozen with its parent
        frozen = not _differs(_params(variables, parts[:-1]), _params(stepped, parts[:-1]))
    step = calls["step"] or calls["inference"]

    def read(name):
        return getattr(module, name, neutral.MISSING)

    held = getattr(module, "param_dtype", None)
    return Layer(path, f"{cls.__module__}.{cls.__name__}", family, kind, neutral.settings(profile, family, read),
                 keras3._layout(module, step) if family == "batchnorm" else None,
                 np.dtype(held).name if held is not None else step.dtype if step else None,
                 frozen, None,
                 weights, changed(("running_mean", "running_var")), calls)
