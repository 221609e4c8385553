"""Bugs of mlx.nn.Module, for layers inside models (specs/behaviours/models.yaml): each replaces one method of
mlx.nn.Module (nn.Sequential keeps its layers in a list attribute)."""
import mlx.nn as nn

from benchmarks.mutants.kit import hit, mutant


@mutant("mlx_models_train_not_recursive", "mlx.nn.Module.train")
def _(_, self, mode=True):
    hit(bool(self.children()))
    self._set_training_mode(mode)
    return self


@mutant("mlx_models_mode_skips_containers", "mlx.nn.Module.train")
def _(_, self, mode=True):
    self._set_training_mode(mode)
    for value in self.values():
        if isinstance(value, nn.Module):
            value.train(mode)
        else:
            hit(isinstance(value, (list, dict)) and bool(value))
    return self


@mutant("mlx_models_freeze_not_recursive", "mlx.nn.Module.freeze")
def _(freeze, self, *, recurse=True, keys=None, strict=False):
    hit(recurse and bool(self.children()))
    return freeze(self, recurse=False, keys=keys, strict=strict)
