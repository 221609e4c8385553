"""keras_family's GaussianNoise bugs in Keras 3 (keras.src.layers.regularization.gaussian_noise, every backend)."""
from types import SimpleNamespace

from keras import ops
from keras.src.layers.regularization.gaussian_noise import GaussianNoise

from benchmarks.mutants import keras_family

keras_family.noise(GaussianNoise, SimpleNamespace(stop_gradient=ops.stop_gradient, clip=ops.clip))
