"""Bugs of flax.linen, for layers inside models (specs/behaviours/models.yaml; read against flax 0.12.8). A linen model
passes the mode down as call arguments: linen's BatchNorm and Dropout merge the flag given at the call with the one
given at construction (``merge_param``: whichever is not None; flax/linen/module.py), and the model's variables go
through flax.serialization, which restores a nested dict level by level (``_restore_dict``, registered for dict).
Each mutant drops one of them for nested models."""
from benchmarks.mutants.kit import hit, mutant


def _call_flag_dropped(name, target, flag):
    """mutant ``name``: the merge_param of ``target`` ignores the call's value of ``flag`` (the constructor's, else False)."""
    @mutant(name, target)
    def _(merge_param, n, a, b):
        if n != flag:
            return merge_param(n, a, b)
        value = a if a is not None else False
        hit(value != merge_param(n, a, b))
        return value


_call_flag_dropped("linen_models_bn_call_flag_dropped", "flax.linen.module.merge_param", "use_running_average")
_call_flag_dropped("linen_models_dropout_call_flag_dropped", "flax.linen.stochastic.merge_param", "deterministic")


@mutant("linen_models_restore_top_levels_only")
def _():
    from flax import serialization
    to_state, restore = serialization._STATE_DICT_REGISTRY[dict]

    def restore_shallow(xs, states):
        # e.g. params/base: its submodules' variables are not restored
        if hit(serialization.current_path().count("/") >= 2 and any(isinstance(v, dict) for v in xs.values())):
            return xs
        return restore(xs, states)
    serialization._STATE_DICT_REGISTRY[dict] = (to_state, restore_shallow)
