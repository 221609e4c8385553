"""Bugs of Equinox's cross-replica BatchNorm (the equinox flavour's replicas: BatchNorm(C, axis_name=('example',
'batch')) vmapped over a replica's examples under jax.pmap): one-line source edits of _stats in
``eqx.nn.BatchNorm.__call__`` (read against equinox 0.13.8), each counting a hit only where the layer names more than
one axis (a single-device BatchNorm names one)."""
from benchmarks.mutants._equinox import BN
from benchmarks.mutants.kit import edited

REPLICA = "(_hit(self.axis_name[:1]) if isinstance(self.axis_name, tuple) else self.axis_name)"   # the first name only

edited("eqx_bn_replica_axis_dropped", BN,
       ("mean = lax.pmean(mean, self.axis_name)", f"mean = lax.pmean(mean, {REPLICA})"),
       ("var = lax.pmean(var, self.axis_name)", f"var = lax.pmean(var, {REPLICA})"))
edited("eqx_bn_variance_around_replica_mean", BN,
       ("var = jnp.mean((y - mean) * jnp.conj(y - mean))",
        f"m = lax.pmean(jnp.mean(y), {REPLICA}) if isinstance(self.axis_name, tuple) else mean; "
        "var = jnp.mean((y - m) * jnp.conj(y - m))"))
