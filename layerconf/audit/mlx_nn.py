"""The audit's MLX part: an mlx.nn.Module, observed on copies (layerconf.audit.hooked, shared with torch and paddle).

The step runs on ``copy.deepcopy(model)`` and the inference call (``model.eval()``, then ``model(x)``, evaluated) on
another copy, so the user's model is never touched. mlx.nn has no forward hooks: while the audit runs, the class
that defines each training-flag layer's ``__call__`` has it wrapped, calling the hooks for the copies' layers only,
and restored afterwards. A layer's mode is ``Module.training`` at the call; a BatchNorm is frozen when neither its
weight nor its bias is in ``trainable_parameters()`` (``freeze()``). Arrays are read at the call (``np.array``
evaluates them); under ``mx.compile`` they cannot be, and the running statistics tell the mode. Paths are Python
from the model (base.layers[1]: a list entry), so a hazard's fix names the module that holds the list (model.base).
Without a step of the user's, the step is DEFAULT_STEP.
"""
import numpy as np

from layerconf.audit import hooked, neutral
from layerconf.audit.records import INFERENCE, TRAINING, Layer, Observed
from layerconf.audit.target import AuditError

SEPARATOR = "."
LR = 1e-3
DEFAULT_STEP = (f"default: model.train(), the mean of the squared outputs as the loss, nn.value_and_grad over the "
                f"trainable parameters, one mlx.optimizers.SGD(learning_rate={LR:g}) update")
KEPT = "unchanged: the step and the inference call ran on copy.deepcopy(model)"
STATE = {"weight": "gamma", "bias": "beta", "running_mean": "running_mean", "running_var": "running_var"}
WEIGHTS, STATISTICS = ("weight", "bias"), ("running_mean", "running_var")
FIXES = {
    "frozen_statistics_move": "freeze() takes the weights out of trainable_parameters() only, not the mode: BatchNorm "
                              "updates running_mean and running_var in every training call; call {part}.eval() after "
                              "every model.train(), or override the model's train() to put {part} back in eval()",
    "inference_layer_training": "model.train() sets training on every submodule and undoes {part}.eval(): call "
                                "{part}.eval() after model.train() in each epoch, or override the model's train() to put "
                                "{part} back in eval()",
    "inference_only_while_frozen": "call {part}.eval() where it must stay in inference",
    "training_in_inference": "call model.eval() before inference (a new module is in training mode)",
    "momentum_convention": "MLX's momentum weighs the batch, as torch's (running = (1 - momentum) running + momentum "
                           "batch): Keras's momentum=0.99 is MLX's momentum=0.01; if that is what you meant, write {setting}",
    "eps_below_resolution": "raise it to the dtype's resolution or above: {setting} (or keep the module in float32: "
                            "model.set_dtype(mx.float32))",
    "tiny_batch": "train with more examples per batch, or nn.GroupNorm / nn.LayerNorm (mlx.nn has no synchronised "
                  "BatchNorm); or keep the layer in eval()",
}


def observe(flavour, target) -> Observed:
    """Run the target's step and an inference call on copies of its model; every training-flag layer observed."""
    import mlx.core as mx
    import mlx.nn as nn
    model = target.model
    if not isinstance(model, nn.Module):
        raise AuditError(f"TARGET {target.name}: --flavour {flavour.name} needs an mlx.nn.Module as the model, "
                         f"got a {type(model).__module__}.{type(model).__name__}")
    if not isinstance(target.batch, (mx.array, np.ndarray)):
        raise AuditError(f"TARGET {target.name}: the batch must be an mx.array or a NumPy array, "
                         f"got a {type(target.batch).__name__}")
    batch = mx.array(target.batch) if isinstance(target.batch, np.ndarray) else target.batch
    tree = hooked.Tree(_named, _state, lambda x: isinstance(x, mx.array), _numpy, _dtype, _CallHooks().hook)
    found = hooked.found(tree, model, _classes(flavour.profile))

    def step(model):
        (target.step or default_step)(model, batch)
        mx.eval(model.parameters())

    def inference(model):
        model.eval()
        mx.eval(model(batch))
    ran = hooked.run(tree, model, found, step, inference)
    layers = [_layer(path, layer, found[path], flavour.profile, ran.before[path], ran.after[path], ran.calls(path))
              for path, layer in hooked.modules(tree, model, found)]
    return Observed(layers, f"mlx {mx.__version__}", KEPT, "yours (the target's step)" if target.step else DEFAULT_STEP,
                    f"{tuple(batch.shape)} {_dtype(batch)}")


def default_step(model, batch) -> None:
    """DEFAULT_STEP."""
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx.utils import tree_flatten
    model.train()

    def loss(model, batch):
        return sum(mx.mean(mx.square(t.astype(mx.float32))) for _, t in tree_flatten(model(batch))
                   if isinstance(t, mx.array))
    _, grads = nn.value_and_grad(model, loss)(model, batch)
    optim.SGD(learning_rate=LR).update(model, grads)


def _named(model, prefix: str = ""):
    """(path, module) of the model and every submodule, in the order they were assigned, as Python reads them from
    the model: base.layers[1] (a list's entry), blocks['bn'] (a dict's)."""
    yield prefix, model
    for name, value in model.children().items():
        yield from _walk(value, f"{prefix}{SEPARATOR}{name}" if prefix else name)


def _walk(value, path: str):
    import mlx.nn as nn
    if isinstance(value, nn.Module):
        yield from _named(value, path)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}[{key!r}]")


def expression(path: str) -> str:
    """The module at ``path`` (already Python: base.layers[1]) from the model."""
    return f"model.{path}" if path else "model"


def _classes(profile) -> dict:
    """The profile's training-flag classes that mlx.nn has -> (family, kind)."""
    import mlx.nn as nn
    out = {}
    for name, family_kind in neutral.classes(profile).items():
        cls = getattr(nn, name, None) if name.isidentifier() else None
        if isinstance(cls, type):
            out.setdefault(cls, family_kind)
    return out


def _numpy(array):
    """The array as NumPy float64 (evaluated); None where it cannot be evaluated (inside mx.compile)."""
    import mlx.core as mx
    try:
        return np.array(array.astype(mx.float32) if array.dtype == mx.bfloat16 else array, dtype=np.float64)
    except Exception:   # an array of a compiled function's trace refuses evaluation: the pass ran traced
        return None


def _dtype(array) -> str:
    return str(array.dtype).removeprefix("mlx.core.")


def _state(module) -> dict:
    """The module's own arrays (weight, bias, running statistics), by the reference's names, where concrete."""
    import mlx.core as mx
    own = {STATE.get(name, name): _numpy(value) for name, value in module.items() if isinstance(value, mx.array)}
    return {key: value for key, value in own.items() if value is not None}


def _read(module):
    """A native argument's value: affine is whether the module has a weight; Dropout keeps 1 - p as _p_1."""
    def read(name):
        if name == "affine":
            return "weight" in module
        if name == "p" and hasattr(module, "_p_1"):
            return 1.0 - module._p_1
        return getattr(module, name, neutral.MISSING)
    return read


class _CallHooks:
    """Forward hooks for mlx.nn: ``hook(module, pre, post)`` wraps the ``__call__`` of the class that defines it
    (once) to call pre(module, args) and post(module, args, out) for hooked instances; a handle's ``remove()``
    unhooks the instance, and the class's own ``__call__`` is back when none of its instances is hooked."""

    def __init__(self):
        self.hooks, self.saved = {}, {}

    def hook(self, module, pre, post) -> list:
        owner = next(cls for cls in type(module).__mro__ if "__call__" in vars(cls))
        if owner not in self.saved:
            self.saved[owner] = original = vars(owner)["__call__"]

            def called(module, *args, **kwargs):
                hooks = self.hooks.get(id(module))
                if hooks is None:
                    return original(module, *args, **kwargs)
                hooks[0](module, args)
                out = original(module, *args, **kwargs)
                hooks[1](module, args, out)
                return out
            owner.__call__ = called
        self.hooks[id(module)] = (pre, post, owner)
        return [_Handle(self, id(module))]

    def remove(self, key: int) -> None:
        owner = self.hooks.pop(key)[2]
        if all(hooks[2] is not owner for hooks in self.hooks.values()):
            owner.__call__ = self.saved.pop(owner)


class _Handle:
    def __init__(self, hooks: _CallHooks, key: int):
        self.hooks, self.key = hooks, key

    def remove(self) -> None:
        self.hooks.remove(self.key)


def _layer(path, layer, found, profile, before, after, calls) -> Layer:
    cls, family, kind = found
    trainable = {name for name in WEIGHTS if name in layer.trainable_parameters()}
    weights = [name for name in WEIGHTS if name in layer]
    held = layer.get("running_var", layer.get("weight"))
    step = calls["step"]
    x = next((call.x for call in calls.values() if call and call.x is not None), None)   # a traced step has none
    return Layer(path, f"{cls.__module__}.{cls.__name__}", family, kind, neutral.settings(profile, family, _read(layer)),
                 hooked.layout(False, x) if family == "batchnorm" else None,
                 _dtype(held) if held is not None else step.dtype if step else None,
                 None if not weights else not trainable, TRAINING if layer.training else INFERENCE,
                 hooked.changed(before, after, [STATE[n] for n in weights]),
                 hooked.changed(before, after, [STATE[n] for n in STATISTICS]), calls)

