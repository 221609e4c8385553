"""Bugs of Keras 3's layer classes (keras.src.layers, which every backend shares): keras_family's, and two of code
only Keras 3 has."""
import math
from types import SimpleNamespace

from keras.src.layers.normalization.batch_normalization import BatchNormalization
from keras.src.layers.regularization.dropout import Dropout
from keras.src.layers.regularization.gaussian_dropout import GaussianDropout
from keras.src.layers.regularization.spatial_dropout import SpatialDropout2D

from benchmarks.mutants import keras_family
from benchmarks.mutants.kit import hit, mutant

keras_family.layers(SimpleNamespace(BatchNormalization=BatchNormalization, Dropout=Dropout,
                                    SpatialDropout2D=SpatialDropout2D, GaussianDropout=GaussianDropout))


@mutant("bn_unbiased_variance", (BatchNormalization, "_moments"))
def _(moments, self, inputs, mask):
    mean, variance = moments(self, inputs, mask)
    hit()
    n = math.prod(int(inputs.shape[a]) for a in self._reduction_axes)
    return mean, variance * (n / max(n - 1, 1))


@mutant("seed_not_advancing", "keras.src.random.seed_generator.SeedGenerator.next")
def _(next_seed, self, ordered=True):
    hit()
    before = self.state.value * 1
    value = next_seed(self, ordered)
    self.state.assign(before)
    return value
