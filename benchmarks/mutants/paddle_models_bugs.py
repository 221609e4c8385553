"""Semantic bugs injected into paddle.nn.Layer, for layers inside models (see benchmarks/mutants/__init__.py; the
family: specs/behaviours/models.yaml).

Each mutant replaces one method of paddle.nn.Layer (looked up on the instance's class at call time): the mode not
reaching the sublayers, or the state dict missing the running statistics of nested layers.
"""
import functools

from paddle import nn

from benchmarks.mutants import hit, mutant


def _own_flag_only(mode: bool):
    def switch(self):
        if self.sublayers():
            hit()
        self.training = mode
        return self
    return switch


@mutant("paddle_models_train_not_recursive", "Layer.train() sets the layer's own flag and leaves its sublayers in their mode")
def _():
    nn.Layer.train = _own_flag_only(True)


@mutant("paddle_models_eval_not_recursive", "Layer.eval() sets the layer's own flag and leaves its sublayers in their mode")
def _():
    nn.Layer.eval = _own_flag_only(False)


@mutant("paddle_models_state_dict_no_nested_statistics",
        "state_dict() omits the running statistics (_mean, _variance) of layers nested two levels deep")
def _():
    original = nn.Layer.state_dict

    @functools.wraps(original)
    def state_dict(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        for key in [k for k in out if k.count(".") >= 3 and k.rsplit(".", 1)[1] in ("_mean", "_variance")]:
            hit()
            del out[key]
        return out
    nn.Layer.state_dict = state_dict
