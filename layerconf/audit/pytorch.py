"""The audit's PyTorch part: a torch.nn.Module, observed on copies through forward hooks.

The step runs on ``copy.deepcopy(model)`` and the inference call (``model.eval()`` under ``torch.no_grad()``) on
another copy, so the user's model is never touched. Hooks on every training-flag module record, at each call, the
module's ``training`` flag, its input, its output and its parameters and buffers before and after. Without a
step of the user's, the step is DEFAULT_STEP.
"""
import importlib

import numpy as np

from layerconf.audit import hooked, neutral
from layerconf.audit.records import INFERENCE, TRAINING, Layer, Observed
from layerconf.audit.target import AuditError

SEPARATOR = "."
LR = 1e-3
DEFAULT_STEP = (f"default: model.train(), the mean of the squared outputs as the loss, one torch.optim.SGD step "
                f"(lr {LR:g}) over the parameters that require gradients")
KEPT = "unchanged: the step and the inference call ran on copy.deepcopy(model)"
STATE = {"weight": "gamma", "bias": "beta", "running_mean": "running_mean", "running_var": "running_var",
         "num_batches_tracked": "batches"}
FIXES = {
    "frozen_statistics_move": "requires_grad_(False) freezes the weights only, not the mode: call {part}.eval() after "
                              "every model.train(), or override the model's train() to put {part} back in eval()",
    "inference_layer_training": "model.train() recurses and undoes {part}.eval(): call {part}.eval() after "
                                "model.train() in each epoch, or override the model's train() to put {part} back in eval()",
    "inference_only_while_frozen": "call {part}.eval() where it must stay in inference",
    "training_in_inference": "call model.eval() before inference, and pass training=self.training (not True) to "
                             "F.dropout / F.batch_norm in forward()",
    "momentum_convention": "torch's momentum weighs the batch (running = (1 - momentum) running + momentum batch): "
                           "Keras's momentum=0.99 is torch's momentum=0.01; if that is what you meant, write {setting}",
    "eps_below_resolution": "raise it to the dtype's resolution or above: {setting} (or hold the layer in a wider dtype)",
    "tiny_batch": "train with more examples per replica, use torch.nn.SyncBatchNorm across replicas "
                  "(nn.SyncBatchNorm.convert_sync_batchnorm(model)), or GroupNorm; or keep the layer in eval()",
}


def expression(path: str) -> str:
    """The Python expression for the module at ``path`` of ``model``: model.backbone, model.get_submodule("base.1")."""
    if not path:
        return "model"
    return f"model.{path}" if all(p.isidentifier() for p in path.split(".")) else f'model.get_submodule("{path}")'


def observe(flavour, target) -> Observed:
    """Run the target's step and an inference call on copies of its model; every training-flag layer observed."""
    import torch
    model = target.model
    if not isinstance(model, torch.nn.Module):
        raise AuditError(f"TARGET {target.name}: --flavour {flavour.name} needs a torch.nn.Module as the model, "
                         f"got a {type(model).__module__}.{type(model).__name__}")
    if not isinstance(target.batch, (torch.Tensor, np.ndarray)):
        raise AuditError(f"TARGET {target.name}: the batch must be a torch.Tensor or a NumPy array, "
                         f"got a {type(target.batch).__name__}")
    batch = torch.as_tensor(target.batch)
    tree = _tree()
    found = hooked.found(tree, model, _classes(flavour.profile))

    def inference(model):
        with torch.no_grad():
            model.eval()
            model(batch)
    ran = hooked.run(tree, model, found, lambda model: (target.step or default_step)(model, batch), inference)
    layers = [_layer(path, module, found[path], flavour.profile, ran.before[path], ran.after[path], ran.calls(path))
              for path, module in hooked.modules(tree, model, found)]
    return Observed(layers, f"torch {torch.__version__}", KEPT, "yours (the target's step)" if target.step else DEFAULT_STEP,
                    f"{tuple(batch.shape)} {str(batch.dtype).removeprefix('torch.')}")


def default_step(model, batch) -> None:
    """DEFAULT_STEP."""
    import torch
    model.train()
    outputs = hooked.tensors(model(batch), lambda x: isinstance(x, torch.Tensor))
    loss = sum(t.float().square().mean() for t in outputs if t.is_floating_point())
    trainable = [p for p in model.parameters() if p.requires_grad]
    if trainable and getattr(loss, "requires_grad", False):
        loss.backward()
        torch.optim.SGD(trainable, lr=LR).step()


def _classes(profile) -> dict:
    """The profile's training-flag classes that this torch has -> (family, kind)."""
    import torch
    resolved = {}
    for name, family_kind in neutral.classes(profile).items():
        owner, _, attr = name.rpartition(".")
        try:
            cls = getattr(importlib.import_module(owner) if owner else torch.nn, attr, None)
        except ImportError:
            cls = None
        if isinstance(cls, type):
            resolved.setdefault(cls, family_kind)
    return resolved


def _tree() -> hooked.Tree:
    import torch
    return hooked.Tree(lambda model: model.named_modules(), _state, lambda x: isinstance(x, torch.Tensor), _numpy,
                       lambda t: str(t.dtype).removeprefix("torch."),
                       lambda module, pre, post: [module.register_forward_pre_hook(pre), module.register_forward_hook(post)])


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy().copy()


def _state(module) -> dict:
    """The module's own parameters and buffers, by the reference's names where it has them."""
    own = {**dict(module.named_parameters(recurse=False)), **dict(module.named_buffers(recurse=False))}
    return {STATE.get(name, name): _numpy(value) for name, value in own.items() if value is not None}


def _layer(path, module, found, profile, before, after, calls) -> Layer:
    cls, family, kind = found
    params = list(module.parameters(recurse=False))
    statistics = [name for name, b in module.named_buffers(recurse=False) if b is not None and b.is_floating_point()]
    held = module.running_var if getattr(module, "running_var", None) is not None else (params[0] if params else None)
    step = calls["step"]
    dtype = str(held.dtype).removeprefix("torch.") if held is not None else step.dtype if step else None
    x = step.x if step else None
    return Layer(path, f"{cls.__module__}.{cls.__name__}", family, kind,
                 neutral.settings(profile, family, lambda name: getattr(module, name, neutral.MISSING)),
                 hooked.layout(True, x), dtype,
                 None if not params else not any(p.requires_grad for p in params),
                 TRAINING if module.training else INFERENCE,
                 hooked.changed(before, after, [STATE.get(n, n) for n, _ in module.named_parameters(recurse=False)]),
                 hooked.changed(before, after, [STATE.get(n, n) for n in statistics]), calls)
