"""Bugs of nnx.BatchNorm's cross-replica path (the flax-nnx flavour's replicas, every start): one-line source edits
of ``flax.nnx.BatchNorm.__call__`` (read against flax 0.12.8), nnx's own layer code rather than the _compute_stats
it shares with linen (flax_replicas_bugs); each counts a hit only where the layer has an axis_name."""
from benchmarks.mutants.kit import edited

BN = "flax.nnx.BatchNorm.__call__"
SYNCED = "self.axis_name is not None"
LOCAL = "_compute_stats(x, reduction_axes, dtype=self.dtype, use_fast_variance=self.use_fast_variance, mask=mask)"

edited("nnx_bn_axis_name_ignored", BN, ("axis_name=self.axis_name,", f"axis_name=(_hit(None) if {SYNCED} else None),"))
edited("nnx_bn_mask_ignored_synced", BN, ("mask=mask,", f"mask=(_hit(None) if {SYNCED} and mask is not None else mask),"))
edited("nnx_bn_running_stats_local", BN,
       ("(1 - self.momentum) * mean", f"(1 - self.momentum) * (_hit({LOCAL}[0]) if {SYNCED} else mean)"),
       ("(1 - self.momentum) * var", f"(1 - self.momentum) * ({LOCAL}[1] if {SYNCED} else var)"))
