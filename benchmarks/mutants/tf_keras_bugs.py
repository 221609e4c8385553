"""Bugs of Keras 2, the tf_keras package: keras_family's, and one of tf_keras's non-fused moments (2-D and 3-D input,
and any masked call; the fused kernel, 4-D/5-D float32, is left as it is)."""
import math

from tf_keras.src import layers

from benchmarks.mutants import keras_family
from benchmarks.mutants.kit import hit, mutant

keras_family.layers(layers)


@mutant("bn_unbiased_variance", (layers.BatchNormalization, "_moments"))
def _(moments, self, inputs, reduction_axes, keep_dims, mask=None):
    mean, variance = moments(self, inputs, reduction_axes, keep_dims, mask=mask)
    hit()
    n = math.prod(int(inputs.shape[a]) for a in reduction_axes)
    return mean, variance * (n / max(n - 1, 1))
