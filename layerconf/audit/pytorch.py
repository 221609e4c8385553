"""The audit's PyTorch part: a torch.nn.Module, observed on copies through forward hooks.

The step runs on ``copy.deepcopy(model)`` and the inference call (``model.eval()`` under ``torch.no_grad()``) on
another copy, so the user's model is never touched. Hooks on every training-flag module record, at each call, the
module's ``training`` flag, its input, its output and its parameters and buffers before and after. Without a
step of the user's, the step is DEFAULT_STEP.
"""
import copy
import importlib

import numpy as np

from layerconf.audit import neutral
from layerconf.audit.records import INFERENCE, TRAINING, Call, Layer, Observed
from layerconf.audit.target import AuditError

SEPARATOR = "."
LR = 1e-3
DEFAULT_STEP = (f"default: model.train(), the mean of the squared outputs as the loss, one torch.optim.SGD step "
                f"(lr {LR:g}) over the parameters that require gradients")
KEPT = "unchanged: the step and the inference call ran on copy.deepcopy(model)"
LAYOUTS = {2: "NC", 3: "NCL", 4: "NCHW", 5: "NCDHW"}
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
    found = _found(model, flavour.profile)
    stepped, inferred = copy.deepcopy(model), copy.deepcopy(model)
    before = {path: _state(module) for path, module in _modules(stepped, found)}
    with _Hooks(_modules(stepped, found)) as step_calls:
        (target.step or default_step)(stepped, batch)
    after = {path: _state(module) for path, module in _modules(stepped, found)}
    with _Hooks(_modules(inferred, found)) as inference_calls, torch.no_grad():
        inferred.eval()
        inferred(batch)
    layers = [_layer(path, module, found[path], flavour.profile, before[path], after[path],
                     {"step": step_calls.get(path), "inference": inference_calls.get(path)})
              for path, module in _modules(model, found)]
    return Observed(layers, f"torch {torch.__version__}", KEPT, "yours (the target's step)" if target.step else DEFAULT_STEP,
                    f"{tuple(batch.shape)} {str(batch.dtype).removeprefix('torch.')}")


def default_step(model, batch) -> None:
    """DEFAULT_STEP."""
    import torch
    model.train()
    out = model(batch)
    loss = sum(t.float().square().mean() for t in _tensors(out) if t.is_floating_point())
    trainable = [p for p in model.parameters() if p.requires_grad]
    if trainable and getattr(loss, "requires_grad", False):
        loss.backward()
        torch.optim.SGD(trainable, lr=LR).step()


def _tensors(out) -> list:
    import torch
    if isinstance(out, torch.Tensor):
        return [out]
    values = out.values() if isinstance(out, dict) else out if isinstance(out, (tuple, list)) else []
    return [t for v in values for t in _tensors(v)]


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


def _found(model, profile) -> dict:
    """path -> (class, family, kind) of every training-flag module (the most derived class the profile names)."""
    known = _classes(profile)
    out = {}
    for path, module in model.named_modules():
        matches = [cls for cls in type(module).__mro__ if cls in known]
        if matches:
            out[path or "(model)"] = (matches[0], *known[matches[0]])
    return out


def _modules(model, found):
    named = {path or "(model)": module for path, module in model.named_modules()}
    return [(path, named[path]) for path in found]


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy().copy()


def _state(module) -> dict:
    """The module's own parameters and buffers, by the reference's names where it has them."""
    own = {**dict(module.named_parameters(recurse=False)), **dict(module.named_buffers(recurse=False))}
    return {STATE.get(name, name): _numpy(value) for name, value in own.items() if value is not None}


class _Hooks:
    """Forward hooks on (path, module) pairs; the first call of each is kept as a records.Call (by path)."""

    def __init__(self, modules):
        self.modules, self.calls, self.handles = modules, {}, []

    def __enter__(self) -> dict:
        import torch
        for path, module in self.modules:
            def pre(module, args, path=path):
                if path in self.calls:
                    self.calls[path].calls += 1
                    return
                x = args[0] if args and isinstance(args[0], torch.Tensor) else None
                self.calls[path] = Call(module.training, None if x is None or x.dim() == 0 else int(x.shape[0]),
                                        x=None if x is None else _numpy(x), before=_state(module))

            def post(module, args, output, path=path):
                call = self.calls[path]
                if call.calls == 1 and isinstance(output, torch.Tensor):
                    call.y, call.dtype, call.after = _numpy(output), str(output.dtype).removeprefix("torch."), _state(module)
            self.handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
        return self.calls

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()


def _changed(before: dict, after: dict, names) -> bool | None:
    keys = [k for k in names if k in before]
    return None if not keys else any(not np.array_equal(before[k], after[k]) for k in keys)


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
                 LAYOUTS.get(x.ndim) if x is not None else None, dtype,
                 None if not params else not any(p.requires_grad for p in params),
                 TRAINING if module.training else INFERENCE,
                 _changed(before, after, [STATE.get(n, n) for n, _ in module.named_parameters(recurse=False)]),
                 _changed(before, after, [STATE.get(n, n) for n in statistics]), calls)
