"""The audit's PaddlePaddle part: a paddle.nn.Layer in the dynamic graph, observed on copies through forward hooks
(layerconf.audit.hooked, shared with torch).

The step runs on ``copy.deepcopy(model)`` and the inference call (``model.eval()`` under ``paddle.no_grad()``) on
another copy, so the user's model is never touched. A BatchNorm's running statistics are parameters (``_mean``,
``_variance``, always stop_gradient): its weights are ``weight`` and ``bias``, and it is frozen when every one of
those has ``stop_gradient`` (``trainable=False`` sets the same flag). Its layout is its ``data_format`` at the input's
rank. Without a step of the user's, the step is DEFAULT_STEP.
"""
import importlib
import warnings

import numpy as np

from layerconf.audit import hooked, neutral
from layerconf.audit.flax_nnx import expression  # noqa: F401 (the part's interface: model.base[1], as nnx spells it)
from layerconf.audit.records import INFERENCE, TRAINING, Layer, Observed
from layerconf.audit.target import AuditError

SEPARATOR = "."
LR = 1e-3
DEFAULT_STEP = (f"default: model.train(), the mean of the squared outputs as the loss, one "
                f"paddle.optimizer.SGD(learning_rate={LR:g}) step over the parameters that are not stop_gradient")
KEPT = "unchanged: the step and the inference call ran on copy.deepcopy(model)"
STATE = {"weight": "gamma", "bias": "beta", "_mean": "running_mean", "_variance": "running_var"}
STATISTICS = ("_mean", "_variance")
TRACKING = "When training, we now always track global mean and variance"   # every BatchNorm training call warns
FIXES = {
    "frozen_statistics_move": "stop_gradient = True (or trainable = False) freezes the weights only, not the mode: call "
                              "{part}.eval() after every model.train(), or override the model's train() to put {part} "
                              "back in eval(); or build its BatchNorms with use_global_stats=True",
    "inference_layer_training": "model.train() sets training on every sublayer and undoes {part}.eval(): call "
                                "{part}.eval() after model.train() in each epoch, or override the model's train() to put "
                                "{part} back in eval()",
    "inference_only_while_frozen": "call {part}.eval() where it must stay in inference",
    "training_in_inference": "call model.eval() before inference, and pass training=self.training (not True) to "
                             "F.dropout / F.batch_norm in forward()",
    "momentum_convention": "paddle's momentum weighs the old value (moving = momentum moving + (1 - momentum) batch): "
                           "torch's momentum=0.1 is paddle's momentum=0.9; if that is what you meant, write {setting}",
    "eps_below_resolution": "raise it to the dtype's resolution or above: {setting} (or hold the layer in a wider dtype)",
    "tiny_batch": "train with more examples per card, paddle.nn.SyncBatchNorm across GPUs "
                  "(nn.SyncBatchNorm.convert_sync_batchnorm(model)), or GroupNorm; or keep the layer in eval()",
}


def observe(flavour, target) -> Observed:
    """Run the target's step and an inference call on copies of its model; every training-flag layer observed."""
    import paddle
    model = target.model
    if not isinstance(model, paddle.nn.Layer):
        raise AuditError(f"TARGET {target.name}: --flavour {flavour.name} needs a paddle.nn.Layer as the model, "
                         f"got a {type(model).__module__}.{type(model).__name__}")
    if not isinstance(target.batch, (paddle.Tensor, np.ndarray)):
        raise AuditError(f"TARGET {target.name}: the batch must be a paddle.Tensor or a NumPy array, "
                         f"got a {type(target.batch).__name__}")
    batch = paddle.to_tensor(target.batch) if isinstance(target.batch, np.ndarray) else target.batch
    tree = _tree()
    found = hooked.found(tree, model, _classes(flavour.profile))

    def step(model):
        (target.step or default_step)(model, batch)

    def inference(model):
        with paddle.no_grad():
            model.eval()
            model(batch)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=TRACKING)
        ran = hooked.run(tree, model, found, step, inference)
    layers = [_layer(path, layer, found[path], flavour.profile, ran.before[path], ran.after[path], ran.calls(path))
              for path, layer in hooked.modules(tree, model, found)]
    return Observed(layers, f"paddle {paddle.__version__}", KEPT, "yours (the target's step)" if target.step else DEFAULT_STEP,
                    f"{tuple(batch.shape)} {_dtype(batch)}")


def default_step(model, batch) -> None:
    """DEFAULT_STEP."""
    import paddle
    model.train()
    outputs = hooked.tensors(model(batch), lambda x: isinstance(x, paddle.Tensor))
    loss = sum(t.astype("float32").square().mean() for t in outputs if t.is_floating_point())
    trainable = [p for p in model.parameters() if not p.stop_gradient]
    if trainable and not getattr(loss, "stop_gradient", True):
        loss.backward()
        paddle.optimizer.SGD(learning_rate=LR, parameters=trainable).step()


def _classes(profile) -> dict:
    """The profile's training-flag classes that paddle.nn has -> (family, kind)."""
    nn = importlib.import_module("paddle.nn")
    out = {}
    for name, family_kind in neutral.classes(profile).items():
        cls = getattr(nn, name, None) if name.isidentifier() else None
        if isinstance(cls, type):
            out.setdefault(cls, family_kind)
    return out


def _tree() -> hooked.Tree:
    import paddle
    return hooked.Tree(lambda model: model.named_sublayers(include_self=True), _state,
                       lambda x: isinstance(x, paddle.Tensor), _numpy, _dtype,
                       lambda layer, pre, post: [layer.register_forward_pre_hook(pre), layer.register_forward_post_hook(post)])


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().astype("float64").numpy().copy()


def _dtype(tensor) -> str:
    return str(tensor.dtype).removeprefix("paddle.")


def _state(layer) -> dict:
    """The layer's own parameters and buffers, by the reference's names where it has them."""
    own = {**dict(layer.named_parameters(include_sublayers=False)), **dict(layer.named_buffers(include_sublayers=False))}
    return {STATE.get(name, name): _numpy(value) for name, value in own.items() if value is not None}


def _read(layer):
    """A native argument's value: the attribute of that name, else paddle's private copy (BatchNorm's _momentum)."""
    def read(name):
        value = getattr(layer, name, neutral.MISSING)
        return getattr(layer, f"_{name}", neutral.MISSING) if value is neutral.MISSING else value
    return read


def _layer(path, layer, found, profile, before, after, calls) -> Layer:
    cls, family, kind = found
    own = dict(layer.named_parameters(include_sublayers=False))
    weights = {name: p for name, p in own.items() if name not in STATISTICS}
    held = own.get("_variance", next(iter(weights.values()), None))
    step = calls["step"]
    x = next((call.x for call in calls.values() if call and call.x is not None), None)   # a traced step has none
    channels_first = str(getattr(layer, "_data_format", "NC")).startswith("NC")
    return Layer(path, f"{cls.__module__}.{cls.__name__}", family, kind, neutral.settings(profile, family, _read(layer)),
                 hooked.layout(channels_first, x) if family == "batchnorm" else None,
                 _dtype(held) if held is not None else step.dtype if step else None,
                 None if not weights else all(p.stop_gradient for p in weights.values()),
                 TRAINING if layer.training else INFERENCE,
                 hooked.changed(before, after, [STATE.get(n, n) for n in weights]),
                 hooked.changed(before, after, [STATE[n] for n in STATISTICS]), calls)
