"""Semantic bugs injected into flax.nnx.Module, for layers inside models (see benchmarks/mutants/__init__.py; the
family: specs/behaviours/models.yaml).

nnx's Module.train()/eval() call set_attributes(deterministic=..., use_running_average=..., raise_if_not_found=False),
which walks every submodule of the graph; each mutant makes that walk stop short.
"""
from flax import nnx

from benchmarks.mutants import hit, mutant


def _own_attributes_only(deterministic: bool):
    def switch(self, **attributes):
        hit()   # every model of the family has submodules: the mode stops at the module called
        for name, value in (("deterministic", deterministic), ("use_running_average", deterministic), *attributes.items()):
            if hasattr(self, name):
                setattr(self, name, value)
    return switch


@mutant("nnx_models_train_not_recursive",
        "nnx Module.train() sets deterministic/use_running_average on the module itself, not on its submodules")
def _():
    nnx.Module.train = _own_attributes_only(False)


@mutant("nnx_models_eval_not_recursive",
        "nnx Module.eval() sets deterministic/use_running_average on the module itself, not on its submodules")
def _():
    nnx.Module.eval = _own_attributes_only(True)
