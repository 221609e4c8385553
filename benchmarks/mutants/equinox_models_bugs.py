"""Semantic bugs injected into Equinox's model-level code, for layers inside models (see benchmarks/mutants/__init__.py;
the family: specs/behaviours/models.yaml).

eqx.nn.inference_mode(pytree, value) sets every ``inference`` attribute that ``_inferences`` finds: it walks the
pytree with jtu.tree_leaves (Modules, lists, dicts, Sequential's tuple) stopping at each node with an ``inference``
attribute and recursing into it (equinox/nn/_inference.py). eqx.nn.Sequential threads the State through each
StatefulLayer. Each mutant makes one of them stop short; ``hit()`` counts the calls whose result it changes.
Read against equinox 0.13.8.
"""
import equinox as eqx
import jax.tree_util as jtu
from equinox.nn import _inference

from benchmarks.mutants import hit, mutant
from benchmarks.mutants._equinox import _edit

_REAL = _inference._inferences


def _shallow(stop):
    """_inferences whose walk also stops at the nodes ``stop`` accepts (and does not look inside them)."""
    def inferences(pytree):
        is_flag = lambda x: hasattr(x, "inference") and x is not pytree  # noqa: E731
        is_leaf = lambda x: x is not pytree and (is_flag(x) or stop(x))  # noqa: E731
        out = [pytree.inference] if hasattr(pytree, "inference") else []
        for x in jtu.tree_leaves(pytree, is_leaf=is_leaf):
            if is_flag(x):
                out.extend(inferences(x))
        return out

    def counted(pytree):
        out = inferences(pytree)
        if len(out) != len(_REAL(pytree)):
            hit()
        return out
    return counted


@mutant("eqx_models_inference_mode_one_level",
        "eqx.nn.inference_mode sets the flags of the modules directly under the pytree only, not of nested ones")
def _():
    _inference._inferences = _shallow(lambda x: isinstance(x, eqx.Module))


@mutant("eqx_models_inference_mode_skips_lists",
        "eqx.nn.inference_mode does not look into lists and dicts of modules (Sequential's tuple still walked)")
def _():
    _inference._inferences = _shallow(lambda x: isinstance(x, (list, dict)))


@mutant("eqx_models_sequential_drops_state",
        "eqx.nn.Sequential passes the State to its stateful layers but returns the State it was given")
def _():
    _edit(eqx.nn.Sequential, ("x, state = layer(x, state=state, key=key)", "x, _ = _hit(layer(x, state=state, key=key))"))
