"""Bugs of tf_keras's other BatchNormalization kernel (specs/behaviours/kernels.yaml): fused=False on 4-d/5-d input,
which the default path's checks never ask for."""
from benchmarks.mutants.kit import hit, mutant


@mutant("bn_fused_false_ignored", "tf_keras.src.layers.BatchNormalization.__init__")
def _(init, self, *args, **kwargs):
    plain = not (kwargs.get("renorm") or kwargs.get("synchronized") or kwargs.get("virtual_batch_size"))
    if hit(kwargs.get("fused") is False and plain):
        kwargs["fused"] = None
    init(self, *args, **kwargs)
