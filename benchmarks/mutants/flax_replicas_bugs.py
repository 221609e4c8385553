"""Bugs of Flax's cross-replica BatchNorm, linen and nnx alike (specs/behaviours/replicas.yaml): the replicas run in
the suite's own process (adapters/jax_replicas.py), so replacing flax's module-level ``_compute_stats`` is enough;
each mutant counts its hits while a step is traced."""
import jax.numpy as jnp

from benchmarks.mutants.flax_bugs import COMPUTE_STATS
from benchmarks.mutants.kit import hit, mutant


@mutant("bn_pmean_skipped", *COMPUTE_STATS)
def _(compute, x, axes, dtype, axis_name=None, *args, **kwargs):
    hit(axis_name is not None)
    return compute(x, axes, dtype, None, *args, **kwargs)


@mutant("bn_pmean_mean_only", *COMPUTE_STATS)
def _(compute, x, axes, dtype, axis_name=None, *args, **kwargs):
    if not hit(axis_name is not None):
        return compute(x, axes, dtype, axis_name, *args, **kwargs)
    mean, _ = compute(x, axes, dtype, axis_name, *args, **kwargs)
    local_mean, local_var = compute(x, axes, dtype, None, *args, **kwargs)
    return mean, jnp.maximum(0.0, local_var + local_mean**2 - mean**2)
