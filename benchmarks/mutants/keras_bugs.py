"""Semantic bugs injected into Keras 3 (see benchmarks/mutants/__init__.py for the machinery).

Each mutant wraps a method of Keras's own layer classes (keras.src.layers...), which every backend
shares, so the same mutant applies to keras-tensorflow, keras-jax and keras-torch. The bugs Keras 3
shares with tf_keras come from keras_family; the two below touch code only Keras 3 has.
"""
import math
from types import SimpleNamespace

from keras.src.layers.normalization.batch_normalization import BatchNormalization
from keras.src.layers.regularization.dropout import Dropout
from keras.src.layers.regularization.gaussian_dropout import GaussianDropout
from keras.src.layers.regularization.spatial_dropout import SpatialDropout2D
from keras.src.random.seed_generator import SeedGenerator

from benchmarks.mutants import hit, keras_family, mutant

keras_family.register(SimpleNamespace(BatchNormalization=BatchNormalization, Dropout=Dropout,
                                      SpatialDropout2D=SpatialDropout2D, GaussianDropout=GaussianDropout))


@mutant("bn_unbiased_variance", "batch variance with Bessel's correction n/(n-1), for normalising and for the moving update")
def _():
    def make(moments):
        def wrapper(self, inputs, mask):
            mean, variance = moments(self, inputs, mask)
            hit()
            n = math.prod(int(inputs.shape[a]) for a in self._reduction_axes)
            return mean, variance * (n / max(n - 1, 1))
        return wrapper
    keras_family.wrap(BatchNormalization, "_moments", make)


@mutant("seed_not_advancing", "the SeedGenerator does not advance: every call of a layer draws the same mask")
def _():
    def make(next_seed):
        def wrapper(self, ordered=True):
            hit()
            before = self.state.value * 1
            value = next_seed(self, ordered)
            self.state.assign(before)
            return value
        return wrapper
    keras_family.wrap(SeedGenerator, "next", make)
