"""Bugs of Equinox's model-level code, for layers inside models (specs/behaviours/models.yaml; read against equinox
0.13.8). eqx.nn.inference_mode(pytree, value) sets every ``inference`` attribute that ``_inferences`` finds: it walks
the pytree with jtu.tree_leaves (Modules, lists, dicts, Sequential's tuple), stopping at each node with an
``inference`` attribute and recursing into it (equinox/nn/_inference.py); eqx.nn.Sequential threads the State through
each StatefulLayer. Each mutant makes one of them stop short."""
import equinox as eqx
import jax.tree_util as jtu

from benchmarks.mutants.kit import edited, hit, mutant


def _shallow(name, stop):
    """mutant ``name``: _inferences whose walk also stops at the nodes ``stop`` accepts (not looking inside them)."""
    def inferences(pytree):
        is_flag = lambda x: hasattr(x, "inference") and x is not pytree  # noqa: E731
        out = [pytree.inference] if hasattr(pytree, "inference") else []
        for x in jtu.tree_leaves(pytree, is_leaf=lambda x: x is not pytree and (is_flag(x) or stop(x))):
            out.extend(inferences(x) if is_flag(x) else [])
        return out

    @mutant(name, "equinox.nn._inference._inferences")
    def _(real, pytree):
        out = inferences(pytree)
        hit(len(out) != len(real(pytree)))
        return out


_shallow("eqx_models_inference_mode_one_level", lambda x: isinstance(x, eqx.Module))
_shallow("eqx_models_inference_mode_skips_lists", lambda x: isinstance(x, (list, dict)))
edited("eqx_models_sequential_drops_state", "equinox.nn.Sequential.__call__",
       ("x, state = layer(x, state=state, key=key)", "x, _ = _hit(layer(x, state=state, key=key))"))
