"""Semantic bugs of tf_keras's other BatchNormalization kernel (specs/behaviours/kernels.yaml; machinery:
benchmarks/mutants/__init__.py): fused=False on 4-d/5-d input, which the default path's checks never ask for."""
from tf_keras.src import layers

from benchmarks.mutants import hit, mutant


@mutant("bn_fused_false_ignored", "BatchNormalization(fused=False) takes the fused kernel anyway (fused=None) where it can")
def _():
    cls = layers.BatchNormalization
    original = cls.__init__

    def __init__(self, *args, **kwargs):
        plain = not (kwargs.get("renorm") or kwargs.get("synchronized") or kwargs.get("virtual_batch_size"))
        if kwargs.get("fused") is False and plain:
            hit()
            kwargs["fused"] = None
        original(self, *args, **kwargs)

    cls.__init__ = __init__
