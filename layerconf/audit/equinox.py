"""The audit's Equinox part: ``(model, state)`` (or ``(model, state, forward)``), an eqx.Module and its eqx.nn.State.

Equinox modules and States are immutable: the step returns a new (model, state) and the user's pair is not touched,
so there is nothing to restore. The model is called per example under ``jax.vmap`` (BatchNorm reduces over the
mapped axis it names), by default ``forward(model, state, batch, key)`` = ``jax.vmap(model, axis_name=AXIS,
in_axes=(0, None, 0), out_axes=(0, None))(batch, state, keys)`` with ``model(x, state, key)`` returning
``(y, state)`` and AXIS the BatchNorms' ``axis_name``; a model called otherwise gives its own ``forward``.

Inside vmap a layer sees tracers, so the modes are measured from the State: a BatchNorm whose running statistics
moved in a pass ran in training mode (``(statistics)``). Dropout holds no state: its mode is the flag its call
resolved (``inference=`` given, else the layer's own), recorded by wrapping ``eqx.nn.Dropout.__call__`` (and
BatchNorm's) while the audit runs: the k-th traced call of a class is the k-th layer of that class in the model.
No output is checked against the reference (no arrays inside vmap). Frozen is Equinox's filter spec, which the model
does not hold: a layer is frozen when the step changed none of its weight and bias while it changed other arrays.
"""
import numpy as np

from layerconf.audit import neutral
from layerconf.audit.records import INFERENCE, TRAINING, Call, Layer, Observed, recording
from layerconf.audit.target import AuditError, _describe

SEPARATOR = "."
LR = 1e-3
AXIS = "batch"   # the vmapped axis's name where no BatchNorm names one
DEFAULT_STEP = (f"default: eqx.nn.inference_mode(model, value=False), the mean of the squared outputs as the loss, "
                f"eqx.filter_grad over the inexact arrays, one optax.sgd({LR:g}) update by eqx.apply_updates")
KEPT = "unchanged: Equinox modules and States are immutable; the step's new (model, state) was dropped"
WEIGHTS = ("weight", "bias")
FIXES = {
    "frozen_statistics_move": "leaving {part}'s arrays out of the filter spec freezes the weights only: BatchNorm "
                              "still writes its running statistics into the State in training mode; put it in "
                              "inference after each eqx.nn.inference_mode(model, value=False): "
                              "model = eqx.tree_at(lambda model: {part}, model, eqx.nn.inference_mode({part}))",
    "inference_layer_training": "eqx.nn.inference_mode(model, value=False) sets inference=False on every layer and "
                                "undoes the base's inference mode: after it, model = eqx.tree_at(lambda model: {part}, "
                                "model, eqx.nn.inference_mode({part}))",
    "inference_only_while_frozen": "put {part} in inference: eqx.nn.inference_mode({part})",
    "training_in_inference": "call model = eqx.nn.inference_mode(model) before inference, and pass no "
                             "inference=False at the call",
    "momentum_convention": "Equinox's momentum weighs the old value (running = momentum running + (1 - momentum) "
                           "batch): torch's momentum=0.1 is Equinox's momentum=0.9; if that is what you meant, write {setting}",
    "eps_below_resolution": "raise it to the dtype's resolution or above: {setting} (or BatchNorm(dtype=jnp.float32))",
    "tiny_batch": "train with more examples per device, BatchNorm(axis_name=(...)) over every mapped axis of the "
                  "global batch, or eqx.nn.GroupNorm; or keep the layer in inference",
}


def expression(path: str) -> str:
    """The layer at ``path`` (already Python: base.layers[1]) from the model."""
    return f"model.{path}" if path else "model"


def observe(flavour, target) -> Observed:
    """Run the target's step and an inference call on the (model, state) it returns; every training-flag layer."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    pair = target.model
    if not (isinstance(pair, tuple) and len(pair) in (2, 3) and isinstance(pair[0], eqx.Module)
            and isinstance(pair[1], eqx.nn.State) and (len(pair) == 2 or callable(pair[2]))):
        raise AuditError(f"TARGET {target.name}: --flavour {flavour.name} needs (model, state) or (model, state, "
                         f"forward) as the model: an eqx.Module and its eqx.nn.State (eqx.nn.make_with_state), got "
                         f"{_describe(pair)}")
    model, state = pair[:2]
    batch = jnp.asarray(target.batch)
    found = _found(model, _classes(flavour.profile))
    forward = pair[2] if len(pair) == 3 else default_forward(_axis(found))
    before = _statistics(state, found)
    with _Recorded({cls for _, cls, _, _ in found.values()}) as recorded:
        with recording(recorded) as step_calls:
            out = (target.step or default_step(forward))((model, state), batch)
        stepped, new_state = out[:2] if isinstance(out, tuple) and len(out) in (2, 3) else (None, None)
        if not isinstance(stepped, eqx.Module) or not isinstance(new_state, eqx.nn.State):
            raise AuditError(f"TARGET {target.name}: step((model, state), batch) must return the new (model, state), "
                             f"got {_describe(out)}")
        with recording(recorded) as inference_calls:
            _, inferred = forward(eqx.nn.inference_mode(model), state, batch, jax.random.key(0))
    after, after_inference = _statistics(new_state, found), _statistics(inferred, found)
    arrays = [np.asarray(a) for a in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))]
    trained = [np.asarray(a) for a in jax.tree.leaves(eqx.filter(stepped, eqx.is_inexact_array))]
    optimized = any(not np.array_equal(a, b) for a, b in zip(arrays, trained))
    now = _found(stepped, _classes(flavour.profile))
    size = int(batch.shape[0]) if batch.shape else None
    layers = [_layer(path, found[path], now.get(path), flavour.profile, optimized,
                     {"step": _call(step_calls, found, path, size, before, after),
                      "inference": _call(inference_calls, found, path, size, before, after_inference)})
              for path in found]
    return Observed(layers, f"equinox {eqx.__version__}", KEPT, "yours (the target's step)" if target.step else DEFAULT_STEP,
                    f"{tuple(batch.shape)} {batch.dtype}")


def default_forward(axis: str):
    """forward(model, state, batch, key) -> (outputs, state): the model vmapped over the batch, one key per example."""
    def forward(model, state, batch, key):
        import jax
        keys = jax.random.split(key, batch.shape[0])
        return jax.vmap(model, axis_name=axis, in_axes=(0, None, 0), out_axes=(0, None))(batch, state, keys)
    return forward


def default_step(forward):
    """DEFAULT_STEP, over ``forward``."""
    def step(pair, batch):
        import equinox as eqx
        import jax
        import jax.numpy as jnp
        import optax
        model, state = eqx.nn.inference_mode(pair[0], value=False), pair[1]

        def loss(model):
            out, new_state = forward(model, state, batch, jax.random.key(0))
            return sum(jnp.mean(jnp.square(t)) for t in jax.tree.leaves(out)), new_state
        grads, new_state = eqx.filter_grad(loss, has_aux=True)(model)
        optimizer = optax.sgd(LR)
        updates, _ = optimizer.update(grads, optimizer.init(eqx.filter(model, eqx.is_inexact_array)))
        return eqx.apply_updates(model, updates), new_state
    return step


def _classes(profile) -> dict:
    """The profile's training-flag classes that equinox.nn has -> (family, kind); BatchNorm, whose layouts the
    profile spells as the vmapped call (jax.vmap(BatchNorm(C, 'batch', ...), ...)), by its class."""
    import equinox as eqx
    out = {eqx.nn.BatchNorm: ("batchnorm", None)}
    for name, family_kind in neutral.classes(profile).items():
        cls = getattr(eqx.nn, name, None) if name.isidentifier() else None
        if isinstance(cls, type):
            out.setdefault(cls, family_kind)
    return out


def _found(model, known: dict) -> dict:
    """path -> (layer, class, family, kind) of every training-flag layer, in the model's leaf order."""
    import jax.tree_util as jtu
    classes = tuple(known)
    out = {}
    for keys, node in jtu.tree_flatten_with_path(model, is_leaf=lambda n: isinstance(n, classes))[0]:
        if isinstance(node, classes):
            cls = next(c for c in type(node).__mro__ if c in known)
            out[jtu.keystr(keys).lstrip(".") or "(model)"] = (node, cls, *known[cls])
    return out


def _axis(found: dict) -> str:
    names = [layer.axis_name for layer, _, family, _ in found.values() if family == "batchnorm"]
    return names[0] if names else AXIS


def _index(layer):
    """The StateIndex of a BatchNorm's running statistics (mode 'batch' or 'ema')."""
    return layer.batch_state_index if getattr(layer, "mode", "ema") == "batch" else layer.ema_state_index


def _statistics(state, found: dict) -> dict:
    """path -> {running_mean, running_var} (NumPy float64) of every BatchNorm, read from ``state``."""
    out = {}
    for path, (layer, _, family, _) in found.items():
        if family == "batchnorm":
            mean, var = state.get(_index(layer))
            out[path] = {"running_mean": np.asarray(mean, np.float64), "running_var": np.asarray(var, np.float64)}
    return out


def _call(calls: dict, found: dict, path: str, size, before: dict, after: dict) -> Call | None:
    """The pass's Call of the layer at ``path``: the k-th recorded call of its class for its k-th layer, the running
    statistics before and after the pass (BatchNorm)."""
    layer, cls, _, _ = found[path]
    rank = [p for p, entry in found.items() if entry[1] is cls].index(path)
    flags = calls.get(cls, [])
    if rank >= len(flags):
        return None
    same = len([p for p, entry in found.items() if entry[1] is cls])
    return Call(flags[rank], size, before=before.get(path, {}), after=after.get(path, {}),
                calls=len(flags[rank::same]))


def _flag(module, kwargs) -> bool:
    """The training flag an Equinox layer resolves: not (the call's inference / deterministic, else its own)."""
    for name in ("inference", "deterministic"):
        if kwargs.get(name) is not None:
            return not kwargs[name]
    return not module.inference


class _Recorded:
    """The classes' own ``__call__`` wrapped while in the context, recording each pass's resolved flags per class in
    call order (``records.recording``), and restored afterwards."""

    def __init__(self, classes):
        self.classes, self.calls, self.saved = classes, None, {}

    def __enter__(self):
        for cls in self.classes:
            owner = next(c for c in cls.__mro__ if "__call__" in vars(c))
            if owner in self.saved:
                continue
            self.saved[owner] = original = vars(owner)["__call__"]

            def called(module, *args, original=original, **kwargs):
                if self.calls is not None:
                    key = next((c for c in type(module).__mro__ if c in self.classes), type(module))
                    self.calls.setdefault(key, []).append(_flag(module, kwargs))
                return original(module, *args, **kwargs)
            owner.__call__ = called
        return self

    def __exit__(self, *exc):
        for owner, original in self.saved.items():
            owner.__call__ = original


def _changed(layer, now) -> bool | None:
    names = [n for n in WEIGHTS if getattr(layer, n, None) is not None]
    if not names or now is None:
        return None
    return any(not np.array_equal(np.asarray(getattr(layer, n)), np.asarray(getattr(now[0], n))) for n in names)


def _read(layer):
    def read(name):
        return getattr(layer, name, neutral.MISSING)
    return read


def _layer(path, entry, now, profile, optimized, calls) -> Layer:
    layer, cls, family, kind = entry
    weights = _changed(layer, now)
    step = calls["step"]
    moved = None if not step or not step.before else any(
        not np.array_equal(step.before[k], step.after[k]) for k in step.before)
    held = getattr(layer, "weight", None)
    return Layer(path, f"{cls.__module__}.{cls.__name__}", family, kind, neutral.settings(profile, family, _read(layer)),
                 None, str(held.dtype) if held is not None else None,
                 None if weights is None or not optimized else not weights,
                 INFERENCE if getattr(layer, "inference", False) else TRAINING,
                 weights, moved, calls)
