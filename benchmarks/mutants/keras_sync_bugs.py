"""A semantic bug injected into Keras 3's synchronized batch statistics, which only the TensorFlow backend has
(see benchmarks/mutants/__init__.py): keras.src.backend.tensorflow.nn._compute_moments_sync, the path
ops.moments(synchronized=True) takes."""
import math

from keras.src.backend.tensorflow import nn

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.keras_family import wrap


@mutant("sync_unbiased_variance", "synchronized: the all-reduced variance divided by the global count - 1")
def _():
    def make(moments):
        def wrapper(x, axes, keepdims):
            mean, variance = moments(x, axes, keepdims)
            hit()
            n = math.prod(int(x.shape[a]) for a in axes)
            return mean, variance * (n / max(n - 1, 1))
        return wrapper
    wrap(nn, "_compute_moments_sync", make)
