"""Bugs of paddle.nn.Layer, for layers inside models (specs/behaviours/models.yaml): each replaces one method of
paddle.nn.Layer (looked up on the instance's class at call time)."""
from benchmarks.mutants.kit import hit, mutant

for _method, _mode in (("train", True), ("eval", False)):
    @mutant(f"paddle_models_{_method}_not_recursive", f"paddle.nn.Layer.{_method}")
    def _(_, self, mode=_mode):
        """The layer's own flag set, its sublayers left in their mode."""
        hit(bool(self.sublayers()))
        self.training = mode
        return self


@mutant("paddle_models_state_dict_no_nested_statistics", "paddle.nn.Layer.state_dict")
def _(state_dict, self, *args, **kwargs):
    out = state_dict(self, *args, **kwargs)
    for key in [k for k in out if k.count(".") >= 3 and k.rsplit(".", 1)[1] in ("_mean", "_variance")]:
        hit()
        del out[key]
    return out
