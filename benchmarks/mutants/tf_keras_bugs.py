"""Semantic bugs injected into Keras 2, the tf_keras package (see benchmarks/mutants/__init__.py).

The bugs Keras 2 shares with Keras 3 come from keras_family, applied to tf_keras's own layer classes;
the one below touches tf_keras's non-fused moments (2-D and 3-D input, and any masked call), and the
fused kernel (4-D/5-D float32) is left as it is.
"""
import math

from tf_keras.src import layers

from benchmarks.mutants import hit, keras_family, mutant

keras_family.register(layers)


@mutant("bn_unbiased_variance", "non-fused batch variance with Bessel's correction n/(n-1), for normalising and for the moving update")
def _():
    def make(moments):
        def wrapper(self, inputs, reduction_axes, keep_dims, mask=None):
            mean, variance = moments(self, inputs, reduction_axes, keep_dims, mask=mask)
            hit()
            n = math.prod(int(inputs.shape[a]) for a in reduction_axes)
            return mean, variance * (n / max(n - 1, 1))
        return wrapper
    keras_family.wrap(layers.BatchNormalization, "_moments", make)
