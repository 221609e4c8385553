"""Semantic bugs injected into torch.nn.Module and its containers, for layers inside models (see
benchmarks/mutants/__init__.py; the family: specs/behaviours/models.yaml).

Each mutant replaces one method of torch.nn.Module or of a container class (looked up on the instance's class at
call time) with a version wrong in one behaviour only: the mode not reaching children, a container that keeps the
mode to itself, the state dict missing or not restoring nested buffers, freezing that does not recurse.
"""
import functools

from torch import nn

from benchmarks.mutants import hit, mutant


def _shallow_train(self, mode=True):
    """Module.train without the recursion into children."""
    if any(True for _ in self.children()):
        hit()
    self.training = mode
    return self


@mutant("models_train_not_recursive", "Module.train()/eval() set the module's own flag and do not recurse into its children")
def _():
    nn.Module.train = _shallow_train


def _container_keeps_mode(cls):
    def train(self, mode=True):
        if any(child.training != mode for child in self.children()):
            hit()
        self.training = mode
        return self
    cls.train = train


@mutant("models_sequential_keeps_mode", "nn.Sequential.train()/eval() do not propagate the mode to the layers it holds")
def _():
    _container_keeps_mode(nn.Sequential)


@mutant("models_modulelist_keeps_mode", "nn.ModuleList.train()/eval() do not propagate the mode to the layers it holds")
def _():
    _container_keeps_mode(nn.ModuleList)


@mutant("models_moduledict_keeps_mode", "nn.ModuleDict.train()/eval() do not propagate the mode to the layers it holds")
def _():
    _container_keeps_mode(nn.ModuleDict)


def _nested(prefix: str) -> bool:
    """A module nested two levels deep in the base or deeper (its state-dict prefix base.blocks.0. has three dots)."""
    return prefix.count(".") >= 3


@mutant("models_state_dict_no_nested_buffers", "state_dict() omits the buffers (running statistics) of modules nested two levels deep")
def _():
    original = nn.Module._save_to_state_dict

    @functools.wraps(original)
    def save(self, destination, prefix, keep_vars):
        original(self, destination, prefix, keep_vars)
        if _nested(prefix):
            for name in self._buffers:
                if destination.pop(prefix + name, None) is not None:
                    hit()
    nn.Module._save_to_state_dict = save


@mutant("models_load_skips_nested_buffers",
        "load_state_dict() restores parameters but leaves the buffers of modules nested two levels deep as they were")
def _():
    original = nn.Module._load_from_state_dict

    @functools.wraps(original)
    def load(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        if _nested(prefix) and self._buffers:
            kept = {name: b.detach().clone() for name, b in self._buffers.items() if b is not None}
            original(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
            for name, value in kept.items():
                if prefix + name in state_dict and not self._buffers[name].equal(value):
                    hit()
                    self._buffers[name].data.copy_(value)
            return
        original(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
    nn.Module._load_from_state_dict = load


@mutant("models_requires_grad_not_recursive",
        "Module.requires_grad_(False) freezes the module's own parameters, not those of its submodules")
def _():
    def requires_grad_(self, requires_grad=True):
        if any(True for _ in self.children()) and any(True for _ in self.parameters()):
            hit()
        for p in self.parameters(recurse=False):
            p.requires_grad_(requires_grad)
        return self
    nn.Module.requires_grad_ = requires_grad_


@mutant("models_eval_recurses_one_level", "Module.train()/eval() reach the children but not the grandchildren")
def _():
    def train(self, mode=True):
        self.training = mode
        for child in self.children():
            child.training = mode
            if any(g.training != mode for g in child.children()):
                hit()
        return self
    nn.Module.train = train
