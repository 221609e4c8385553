"""Semantic bugs injected into mlx.nn.Module, for layers inside models (see benchmarks/mutants/__init__.py; the
family: specs/behaviours/models.yaml).

Each mutant replaces one method of mlx.nn.Module: the mode not reaching submodules, the mode not reaching modules
held in list or dict attributes (nn.Sequential keeps its layers in a list), freezing that does not recurse.
"""
import functools

import mlx.nn as nn

from benchmarks.mutants import hit, mutant


@mutant("mlx_models_train_not_recursive", "Module.train()/eval() set the module's own mode and leave its submodules in theirs")
def _():
    def train(self, mode=True):
        if self.children():
            hit()
        self._set_training_mode(mode)
        return self
    nn.Module.train = train


@mutant("mlx_models_mode_skips_containers",
        "Module.train()/eval() reach modules held as attributes, not those inside list or dict attributes")
def _():
    def train(self, mode=True):
        self._set_training_mode(mode)
        for value in self.values():
            if isinstance(value, nn.Module):
                value.train(mode)
            elif isinstance(value, (list, dict)) and value:
                hit()
        return self
    nn.Module.train = train


@mutant("mlx_models_freeze_not_recursive", "Module.freeze() freezes the module's own parameters, not those of its submodules")
def _():
    original = nn.Module.freeze

    @functools.wraps(original)
    def freeze(self, *, recurse=True, keys=None, strict=False):
        if recurse and self.children():
            hit()
        return original(self, recurse=False, keys=keys, strict=strict)
    nn.Module.freeze = freeze
