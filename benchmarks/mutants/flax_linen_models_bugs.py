"""Semantic bugs injected into flax.linen, for layers inside models (see benchmarks/mutants/__init__.py; the family:
specs/behaviours/models.yaml).

A linen model passes the mode down as call arguments: linen's BatchNorm and Dropout merge the flag given at the call
with the one given at construction (``merge_param``: whichever is not None; flax/linen/module.py), and the model's
variables go through flax.serialization, which restores a nested dict level by level (``_restore_dict``, registered
for dict). Each mutant drops one of them for nested models; ``hit()`` counts the calls whose result it changes.
Read against flax 0.12.8.
"""
from flax import serialization
from flax.linen import module, stochastic

from benchmarks.mutants import hit, mutant


def _call_flag_dropped(original, name, default):
    """merge_param that ignores the call's value of ``name`` (the constructor's, else ``default``)."""
    def merge_param(n, a, b):
        if n != name:
            return original(n, a, b)
        value = a if a is not None else default
        if value != original(n, a, b):
            hit()
        return value
    return merge_param


@mutant("linen_models_bn_call_flag_dropped",
        "linen BatchNorm ignores use_running_average given at the call (a nested BatchNorm called with it trains)")
def _():
    module.merge_param = _call_flag_dropped(module.merge_param, "use_running_average", False)


@mutant("linen_models_dropout_call_flag_dropped",
        "linen Dropout ignores deterministic given at the call (a nested Dropout called with it drops)")
def _():
    stochastic.merge_param = _call_flag_dropped(stochastic.merge_param, "deterministic", False)


@mutant("linen_models_restore_top_levels_only",
        "flax.serialization restores a dict's first two levels: a submodule's variables nested deeper keep the target's")
def _():
    to_state, restore = serialization._STATE_DICT_REGISTRY[dict]

    def restore_shallow(xs, states):
        if serialization.current_path().count("/") >= 2 and any(isinstance(v, dict) for v in xs.values()):
            hit()   # e.g. params/base: its submodules' variables are not restored
            return xs
        return restore(xs, states)
    serialization._STATE_DICT_REGISTRY[dict] = (to_state, restore_shallow)
