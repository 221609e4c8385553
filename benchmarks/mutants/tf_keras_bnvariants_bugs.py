"""Bugs of tf_keras BatchNormalization's variants: batch renormalization, virtual (ghost) batches, synchronized
statistics. Each replaces a method of tf_keras's own layer class, or the module's tf where the layer calls
tf.stop_gradient."""
import math

import tensorflow as tf
from tf_keras.src.layers.normalization import batch_normalization as module

from benchmarks.mutants.keras_family import fields
from benchmarks.mutants.kit import edited, hit, mutant

BN = module.BatchNormalizationBase


@mutant("renorm_unclipped", (BN, "_renorm_correction_and_moments"))
def _(corrections, self, mean, variance, training, inputs_size):
    if not hit(self.renorm_clipping):
        return corrections(self, mean, variance, training, inputs_size)
    with fields(self, renorm_clipping={}):
        return corrections(self, mean, variance, training, inputs_size)


@mutant("renorm_statistics_frozen", (BN, "_assign_moving_average"))
def _(assign, self, variable, value, momentum, inputs_size):
    if hit(self.renorm and any(variable is v for v in (self.renorm_mean, self.renorm_stddev))):
        return tf.identity(variable)
    return assign(self, variable, value, momentum, inputs_size)


class _Tf:
    """tf with a stop_gradient that passes the gradient of renorm's r and d."""

    def __getattr__(self, name):
        return getattr(tf, name)

    @staticmethod
    def stop_gradient(x, name=None):
        return tf.identity(x) if hit(name in ("renorm_r", "renorm_d")) else tf.stop_gradient(x, name=name)


mutant("renorm_gradient_through_rd")(lambda: setattr(module, "tf", _Tf()))


@mutant("ghost_whole_batch", (BN, "_moments"))
def _(moments, self, inputs, reduction_axes, keep_dims, mask=None):
    if hit(self.virtual_batch_size is not None and 1 not in reduction_axes):
        return moments(self, inputs, [*reduction_axes, 1], True, mask=mask)
    return moments(self, inputs, reduction_axes, keep_dims, mask=mask)


@mutant("sync_unbiased_variance", (BN, "_sync_calculate_mean_and_var"))
def _(moments, self, x, reduction_axes, keep_dims, mask=None):
    mean, variance = moments(self, x, reduction_axes, keep_dims, mask=mask)
    hit()
    n = math.prod(int(x.shape[a]) for a in reduction_axes)
    return mean, variance * (n / max(n - 1, 1))


edited("sync_count_local", (BN, "_sync_calculate_mean_and_var"),
       ("tf.distribute.ReduceOp.SUM, local_count", "tf.distribute.ReduceOp.MEAN, _hit(local_count)"))
