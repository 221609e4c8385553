"""Semantic bugs injected into Keras 3's GaussianNoise (keras.src.layers.regularization.gaussian_noise), shared by
every backend; the bugs themselves are noise_family's."""
from types import SimpleNamespace

from keras import ops
from keras.src.layers.regularization.gaussian_noise import GaussianNoise

from benchmarks.mutants import noise_family

noise_family.register(GaussianNoise, SimpleNamespace(stop_gradient=ops.stop_gradient, clip=ops.clip))
