"""keras_family's GaussianNoise bugs in Keras 2 (tf_keras.src.layers.regularization.gaussian_noise)."""
from types import SimpleNamespace

import tensorflow as tf
from tf_keras.src.layers.regularization.gaussian_noise import GaussianNoise

from benchmarks.mutants import keras_family

keras_family.noise(GaussianNoise, SimpleNamespace(stop_gradient=tf.stop_gradient, clip=tf.clip_by_value))
