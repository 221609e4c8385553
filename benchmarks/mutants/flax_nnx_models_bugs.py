"""Bugs of flax.nnx.Module, for layers inside models (specs/behaviours/models.yaml): nnx's Module.train()/eval() call
set_attributes(deterministic=..., use_running_average=..., raise_if_not_found=False), which walks every submodule
of the graph; each mutant sets the attributes on the module called only."""
from benchmarks.mutants.kit import hit, mutant

for _method, _deterministic in (("train", False), ("eval", True)):
    @mutant(f"nnx_models_{_method}_not_recursive", f"flax.nnx.Module.{_method}")
    def _(_, self, _deterministic=_deterministic, **attributes):
        hit()   # every model of the family has submodules: the mode stops at the module called
        for name, value in (("deterministic", _deterministic), ("use_running_average", _deterministic), *attributes.items()):
            if hasattr(self, name):
                setattr(self, name, value)
