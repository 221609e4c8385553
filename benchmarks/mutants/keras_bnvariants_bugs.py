"""Bugs of Keras 3 BatchNormalization's batch renormalization (renorm, Keras >= 3.14), shared by every backend: each
replaces a method of the layer class, or the module's ops where the layer calls ops.stop_gradient."""
from keras.src import ops
from keras.src.layers.normalization import batch_normalization as module

from benchmarks.mutants.keras_family import fields
from benchmarks.mutants.kit import hit, mutant

BN = module.BatchNormalization


@mutant("renorm_unclipped", (BN, "_renorm_correction_and_moments"))
def _(corrections, self, mean, variance):
    if not hit(self.renorm_clipping):
        return corrections(self, mean, variance)
    with fields(self, renorm_clipping={}):
        return corrections(self, mean, variance)


@mutant("renorm_statistics_frozen", (BN, "_update_renorm_statistics"))
def _(update, self, mean, variance):
    hit()
    before = [ops.copy(v.value) for v in (self.renorm_mean, self.renorm_stddev)]
    update(self, mean, variance)
    for variable, value in zip((self.renorm_mean, self.renorm_stddev), before):
        variable.assign(value)


class _Ops:
    """keras.src.ops with a stop_gradient that passes the gradient."""

    def __getattr__(self, name):
        return getattr(ops, name)

    @staticmethod
    def stop_gradient(x):
        hit()
        return x


mutant("renorm_gradient_through_rd")(lambda: setattr(module, "ops", _Ops()))
