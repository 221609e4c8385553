"""Semantic bugs injected into Keras 2's GaussianNoise (tf_keras.src.layers.regularization.gaussian_noise); the
bugs themselves are noise_family's."""
from types import SimpleNamespace

import tensorflow as tf
from tf_keras.src.layers.regularization.gaussian_noise import GaussianNoise

from benchmarks.mutants import noise_family

noise_family.register(GaussianNoise, SimpleNamespace(stop_gradient=tf.stop_gradient, clip=tf.clip_by_value))
