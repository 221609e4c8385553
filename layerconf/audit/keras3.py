"""The audit's Keras 3 part (every backend, from KERAS_BACKEND): a keras Model or Layer, observed by wrapping each
training-flag layer's ``call``. Keras 2 (tf_keras.py) runs the same code through its own ``Api``.

Keras layers hold no mode: the wrapper records the ``training`` argument each call receives (given, or inherited
from the outer call), the input and output and the layer's state before and after where the pass runs eagerly
(a traced pass, JAX's stateless step, gives no arrays: the mode is then told by the statistics). The audit works on
the user's model itself and restores every variable (weights, moving statistics, seed states) and removes the
wrappers afterwards. The inference pass is ``model(x, training=False)``, as predict() calls it; without a step of
the user's, the step is DEFAULT_STEP.
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from layerconf.audit import neutral
from layerconf.audit.records import Call, Layer, Observed, recording
from layerconf.audit.target import AuditError

SEPARATOR = "/"
LR = 1e-3
DEFAULT_STEP = (f"default: model(x, training=True) with the mean of the squared outputs as the loss, its gradient "
                f"the backend's way (tf.GradientTape, torch.autograd, jax.value_and_grad of model.stateless_call), "
                f"one keras.optimizers.SGD step (learning_rate {LR:g}) over model.trainable_variables")
KEPT = "unchanged: every variable of the model restored after the audit, the call wrappers removed"
STATE = {"gamma": "gamma", "beta": "beta", "moving_mean": "running_mean", "moving_variance": "running_var"}
STATISTICS = ("moving_mean", "moving_variance")
FIXES = {
    "frozen_statistics_move": "call the frozen part with training=False: {part}(x, training=False)",
    "inference_layer_training": "call {part} with training=False inside the model's call (the transfer-learning "
                                "guide's base_model(x, training=False)); Keras <= 3.15.1 overrides that argument "
                                "inside a Functional model with the outer training=True (keras#20285): call the base "
                                "from a subclassed model's call()",
    "inference_only_while_frozen": "call {part} with training=False from a subclassed model's call() (a Functional "
                                   "model overrides it with the outer training=True in Keras <= 3.15.1, keras#20285), "
                                   "and keep its BatchNormalization layers trainable=False when you unfreeze {part}",
    "training_in_inference": "do not pass training=True to the layer in call(); predict() and model(x, training=False) "
                             "run inference",
    "momentum_convention": "Keras's momentum weighs the old value (moving = momentum moving + (1 - momentum) batch): "
                           "torch's momentum=0.01 is Keras's momentum=0.99; if that is what you meant, write {setting}",
    "eps_below_resolution": "raise it to the dtype's resolution or above: {setting} (or a float32 dtype policy)",
    "tiny_batch": "train with more examples per replica, BatchNormalization(synchronized=True) across replicas, or "
                  "GroupNormalization",
}


@dataclass(frozen=True)
class Api:
    """What differs between Keras 3 and Keras 2 (tf_keras): the package; ``check(flavour)``, the process checked
    and the version line; a batch as the framework's tensor; a variable's current value; a tensor as NumPy (raising
    where it is traced); a dtype's name; the step without a user's and its description."""

    module: str
    check: Callable
    tensor: Callable
    read: Callable
    numpy: Callable
    dtype: Callable
    default_step: Callable
    default_text: str


def _keras3_tensor(batch):
    import keras
    return keras.ops.convert_to_tensor(batch)


def _keras3_numpy(value):
    import keras
    return keras.ops.convert_to_numpy(value)


def _keras3_dtype(value) -> str:
    import keras
    return keras.backend.standardize_dtype(getattr(value, "dtype", value))


def _keras3_check(flavour) -> str:
    """The backend the flavour names, which must be the one keras runs on in this process."""
    import keras
    backend = flavour.manifest["environment"]["KERAS_BACKEND"]
    if keras.backend.backend() != backend:
        raise AuditError(f"--flavour {flavour.name}: keras runs on {keras.backend.backend()} in this process "
                         f"(KERAS_BACKEND is read once, at import); run the audit with KERAS_BACKEND={backend}")
    return f"keras {keras.__version__} on {backend}"


def expression(path: str) -> str:
    """The layer at ``path`` as the fix names it: its path (Keras's layer.path, parts joined by '/')."""
    return path or "the model"


def observe(flavour, target, api: "Api | None" = None) -> Observed:
    """The inference call, then the target's step, on the model, wrapped; every variable restored afterwards."""
    import importlib
    api = api or KERAS3
    version = api.check(flavour)
    keras = importlib.import_module(api.module)
    model = target.model
    if not isinstance(model, keras.layers.Layer):
        raise AuditError(f"TARGET {target.name}: --flavour {flavour.name} needs a {api.module} Model or Layer as the "
                         f"model, got a {type(model).__module__}.{type(model).__name__}")
    batch = api.tensor(target.batch)
    found = _found(keras, model, flavour.profile)
    saved = [np.array(api.numpy(api.read(v))) for v in model.variables]
    wrapped = _Wrapped(found, api)
    try:
        with recording(wrapped) as inference_calls:
            model(batch, training=False)
        _restore(model, saved)
        before = {id(layer): _state(layer, api) for layer in found}
        with recording(wrapped) as step_calls:
            (target.step or api.default_step)(model, batch)
        after = {id(layer): _state(layer, api) for layer in found}
    finally:
        wrapped.remove()
        _restore(model, saved)
    layers = [_layer(layer, found[layer], flavour.profile, before[id(layer)], after[id(layer)],
                     {"step": step_calls.get(id(layer)), "inference": inference_calls.get(id(layer))}, api)
              for layer in found]
    return Observed(layers, version, KEPT, "yours (the target's step)" if target.step else api.default_text,
                    f"{tuple(np.shape(batch))} {api.dtype(batch)}")


def default_step(model, batch) -> None:
    """DEFAULT_STEP."""
    import keras
    variables = model.trainable_variables
    backend = keras.backend.backend()

    def loss_of(outputs):
        return sum(keras.ops.mean(keras.ops.square(t)) for t in keras.tree.flatten(outputs))

    if backend == "jax":
        import jax
        non_trainable = model.non_trainable_variables

        def loss(trainable, others):
            outputs, others = model.stateless_call(trainable, others, batch, training=True)
            return loss_of(outputs), others
        (_, updated), grads = jax.value_and_grad(loss, has_aux=True)([v.value for v in variables],
                                                                     [v.value for v in non_trainable])
        for variable, new in zip(non_trainable, updated):
            variable.assign(new)
    elif backend == "tensorflow":
        import tensorflow as tf
        with tf.GradientTape() as tape:
            value = loss_of(model(batch, training=True))
        grads = tape.gradient(value, variables)
    else:
        import torch
        value = loss_of(model(batch, training=True))
        grads = torch.autograd.grad(value, [v.value for v in variables]) if variables else []
    if variables:
        keras.optimizers.SGD(learning_rate=LR).apply_gradients(zip(grads, variables))


def _found(keras, model, profile) -> dict:
    """layer -> (path, class, family, kind) for every training-flag layer below the model (the model too, if one)."""
    known = {}
    for name, family_kind in neutral.classes(profile).items():
        cls = getattr(keras.layers, name, None)
        if isinstance(cls, type):
            known.setdefault(cls, family_kind)
    out = {}
    for path, layer in [(model.name, model), *_walk(model, "")]:
        matches = [cls for cls in type(layer).__mro__ if cls in known]
        if matches and layer not in out:
            out[layer] = (path, matches[0], *known[matches[0]])
    return out


def _walk(layer, prefix):
    """(path, layer) for every layer below ``layer``, paths of names joined by '/' from the model's (Keras's own
    walk over sublayers, lists and dicts of layers included)."""
    for sub in layer._flatten_layers(include_self=False, recursive=False):
        path = f"{prefix}/{sub.name}" if prefix else sub.name
        yield path, sub
        yield from _walk(sub, path)


def _numpy(value, api):
    """A concrete array as NumPy float64; None for a traced one (inside tf.function or a JAX transformation)."""
    try:
        return np.array(api.numpy(value), dtype=np.float64)
    except Exception:   # a tracer or symbolic tensor refuses conversion: the pass ran traced
        return None


def _state(layer, api) -> dict:
    """gamma, beta and the moving statistics, by the reference's names, where the layer has them (and concrete)."""
    out = {}
    for name, key in STATE.items():
        variable = getattr(layer, name, None)
        value = None if variable is None else _numpy(api.read(variable), api)
        if value is not None:
            out[key] = value
    return out


def _restore(model, saved) -> None:
    for variable, value in zip(model.variables, saved):
        variable.assign(value)


class _Wrapped:
    """Each layer's ``call`` replaced by one that records a records.Call per pass (by id(layer))."""

    def __init__(self, layers, api):
        self.layers, self.calls, self.api = list(layers), None, api
        for layer in self.layers:
            layer.call = self._wrapper(layer, layer.call)

    def _wrapper(self, layer, call):
        api = self.api

        def recorded(*args, **kwargs):
            record = self.calls.get(id(layer)) if self.calls is not None else None
            if record is not None:
                record.calls += 1
                return call(*args, **kwargs)
            x = args[0] if args else None
            before = _state(layer, api)
            y = call(*args, **kwargs)
            if self.calls is not None:
                shape = getattr(x, "shape", None)
                self.calls[id(layer)] = Call(kwargs.get("training"), int(shape[0]) if shape and shape[0] else None,
                                             api.dtype(y) if hasattr(y, "dtype") else None,
                                             _numpy(x, api) if x is not None else None,
                                             _numpy(y, api) if hasattr(y, "dtype") else None, before, _state(layer, api))
            return y
        return recorded

    def remove(self):
        for layer in self.layers:
            del layer.call   # the class's own call again


def _changed(before: dict, after: dict, keys) -> bool | None:
    keys = [k for k in keys if k in before and k in after]
    return None if not keys else any(not np.array_equal(before[k], after[k]) for k in keys)


def _layout(layer, call) -> str | None:
    """BatchNormalization's layout from its axis and the input's rank; None outside the reference's layouts."""
    if call is None or call.x is None:
        return None
    rank, axis = call.x.ndim, getattr(layer, "axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if not isinstance(axis, int):
        return None
    last = {2: "NC", 3: "NLC", 4: "NHWC", 5: "NDHWC"}
    first = {2: "NC", 3: "NCL", 4: "NCHW", 5: "NCDHW"}
    return last.get(rank) if axis % rank == rank - 1 else first.get(rank) if axis % rank == 1 else None


def _layer(layer, found, profile, before, after, calls, api) -> Layer:
    path, cls, family, kind = found
    step = calls["step"] or calls["inference"]
    statistic = getattr(layer, "moving_variance", None)
    weights = [STATE[n] for n in ("gamma", "beta")]

    def read(name):
        return getattr(layer, name, getattr(layer, "_" + name, neutral.MISSING))

    return Layer(path, f"{cls.__module__}.{cls.__name__}", family, kind, neutral.settings(profile, family, read),
                 _layout(layer, step) if family == "batchnorm" else None,
                 api.dtype(statistic) if statistic is not None else layer.compute_dtype, not layer.trainable, None,
                 _changed(before, after, weights), _changed(before, after, [STATE[n] for n in STATISTICS]), calls)


KERAS3 = Api("keras", _keras3_check, _keras3_tensor, lambda variable: variable.value, _keras3_numpy, _keras3_dtype,
             default_step, DEFAULT_STEP)
