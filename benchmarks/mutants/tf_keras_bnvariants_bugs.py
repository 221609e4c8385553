"""Semantic bugs injected into tf_keras BatchNormalization's variants: batch renormalization, virtual (ghost)
batches, synchronized statistics (see benchmarks/mutants/__init__.py). Each wraps a method of tf_keras's own
layer class, or the module's tf where the layer calls tf.stop_gradient."""
import math

import tensorflow as tf
from tf_keras.src.layers.normalization import batch_normalization as module

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.keras_family import attribute, wrap

BatchNormalization = module.BatchNormalizationBase


@mutant("renorm_unclipped", "renorm: r and d not clipped (renorm_clipping ignored)")
def _():
    def make(corrections):
        def wrapper(self, mean, variance, training, inputs_size):
            if self.renorm_clipping:
                hit()
                with attribute(self, "renorm_clipping", {}):
                    return corrections(self, mean, variance, training, inputs_size)
            return corrections(self, mean, variance, training, inputs_size)
        return wrapper
    wrap(BatchNormalization, "_renorm_correction_and_moments", make)


@mutant("renorm_statistics_frozen", "renorm: renorm_mean and renorm_stddev never move (their moving averages skipped)")
def _():
    def make(assign):
        def wrapper(self, variable, value, momentum, inputs_size):
            if self.renorm and any(variable is v for v in (self.renorm_mean, self.renorm_stddev)):
                hit()
                return tf.identity(variable)
            return assign(self, variable, value, momentum, inputs_size)
        return wrapper
    wrap(BatchNormalization, "_assign_moving_average", make)


@mutant("renorm_gradient_through_rd", "renorm: r and d not wrapped in stop_gradient, so the gradient flows through them")
def _():
    class Tf:
        def __getattr__(self, name):
            return getattr(tf, name)

        @staticmethod
        def stop_gradient(x, name=None):
            if name in ("renorm_r", "renorm_d"):
                hit()
                return tf.identity(x)
            return tf.stop_gradient(x, name=name)
    module.tf = Tf()


@mutant("ghost_whole_batch", "virtual batches: the statistics over the whole batch instead of each virtual batch")
def _():
    def make(moments):
        def wrapper(self, inputs, reduction_axes, keep_dims, mask=None):
            if self.virtual_batch_size is not None and 1 not in reduction_axes:
                hit()
                mean, variance = moments(self, inputs, [*reduction_axes, 1], True, mask=mask)
                return mean, variance
            return moments(self, inputs, reduction_axes, keep_dims, mask=mask)
        return wrapper
    wrap(BatchNormalization, "_moments", make)


@mutant("sync_unbiased_variance", "synchronized: the all-reduced variance divided by the global count - 1")
def _():
    def make(moments):
        def wrapper(self, x, reduction_axes, keep_dims, mask=None):
            mean, variance = moments(self, x, reduction_axes, keep_dims, mask=mask)
            hit()
            n = math.prod(int(x.shape[a]) for a in reduction_axes)
            return mean, variance * (n / max(n - 1, 1))
        return wrapper
    wrap(BatchNormalization, "_sync_calculate_mean_and_var", make)
