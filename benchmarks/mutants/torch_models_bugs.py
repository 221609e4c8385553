"""Bugs of torch.nn.Module and its containers, for layers inside models (specs/behaviours/models.yaml): each replaces
one method of torch.nn.Module or of a container class (looked up on the instance's class at call time)."""
from benchmarks.mutants.kit import hit, mutant


def _nested(prefix: str) -> bool:
    """A module nested two levels deep in the base or deeper (its state-dict prefix base.blocks.0. has three dots)."""
    return prefix.count(".") >= 3


@mutant("models_train_not_recursive", "torch.nn.Module.train")
def _(_, self, mode=True):
    hit(any(True for _ in self.children()))
    self.training = mode
    return self


for _container in ("Sequential", "ModuleList", "ModuleDict"):
    @mutant(f"models_{_container.lower()}_keeps_mode", f"torch.nn.{_container}.train")
    def _(_, self, mode=True):
        hit(any(child.training != mode for child in self.children()))
        self.training = mode
        return self


@mutant("models_eval_recurses_one_level", "torch.nn.Module.train")
def _(_, self, mode=True):
    self.training = mode
    for child in self.children():
        child.training = mode
        hit(any(g.training != mode for g in child.children()))
    return self


@mutant("models_state_dict_no_nested_buffers", "torch.nn.Module._save_to_state_dict")
def _(save, self, destination, prefix, keep_vars):
    save(self, destination, prefix, keep_vars)
    for name in self._buffers if _nested(prefix) else ():
        hit(destination.pop(prefix + name, None) is not None)


@mutant("models_load_skips_nested_buffers", "torch.nn.Module._load_from_state_dict")
def _(load, self, state_dict, prefix, *args, **kwargs):
    kept = {n: b.detach().clone() for n, b in self._buffers.items() if b is not None} if _nested(prefix) else {}
    load(self, state_dict, prefix, *args, **kwargs)
    for name, value in kept.items():
        if hit(prefix + name in state_dict and not self._buffers[name].equal(value)):
            self._buffers[name].data.copy_(value)


@mutant("models_requires_grad_not_recursive", "torch.nn.Module.requires_grad_")
def _(_, self, requires_grad=True):
    hit(any(True for _ in self.children()) and any(True for _ in self.parameters()))
    for p in self.parameters(recurse=False):
        p.requires_grad_(requires_grad)
    return self
