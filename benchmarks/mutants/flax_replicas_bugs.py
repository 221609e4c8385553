"""Semantic bugs injected into Flax's cross-replica BatchNorm, linen and nnx alike (see benchmarks/mutants/__init__.py):
the replicas run in the suite's own process (adapters/jax_replicas.py), so patching flax's module-level helper is
enough; each mutant counts its hits while a step is traced."""
from flax.linen import normalization as linen_norm
from flax.nnx.nn import normalization as nnx_norm

from benchmarks.mutants import hit, mutant


def _patch_stats(make):
    for mod in (linen_norm, nnx_norm):
        mod._compute_stats = make(mod._compute_stats)


@mutant("bn_pmean_skipped", "BatchNorm(axis_name=...) normalises each replica with its own moments: lax.pmean not applied")
def _():
    def make(compute):
        def _compute_stats(x, axes, dtype, axis_name=None, *args, **kwargs):
            if axis_name is not None:
                hit()
            return compute(x, axes, dtype, None, *args, **kwargs)
        return _compute_stats
    _patch_stats(make)


@mutant("bn_pmean_mean_only", "BatchNorm(axis_name=...) averages the mean over the replicas but keeps each replica's E[x^2]")
def _():
    import jax.numpy as jnp

    def make(compute):
        def _compute_stats(x, axes, dtype, axis_name=None, *args, **kwargs):
            if axis_name is None:
                return compute(x, axes, dtype, axis_name, *args, **kwargs)
            hit()
            mean, _ = compute(x, axes, dtype, axis_name, *args, **kwargs)
            local_mean, local_var = compute(x, axes, dtype, None, *args, **kwargs)
            return mean, jnp.maximum(0.0, local_var + local_mean**2 - mean**2)
        return _compute_stats
    _patch_stats(make)
