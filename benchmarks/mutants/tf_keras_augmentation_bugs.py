"""Bugs of tf_keras' random image augmentation layers (tf_keras.src.layers.preprocessing.image_preprocessing): each
replaces the layer's own call, or its random generator for one call."""
from unittest import mock

import tensorflow as tf

from benchmarks.mutants.keras_family import fields
from benchmarks.mutants.kit import hit, mutant

PACKAGE = "tf_keras.src.layers.preprocessing.image_preprocessing"


def call_of(name):
    return f"{PACKAGE}.{name}.call"


@mutant("tfk_aug_flip_in_inference", call_of("RandomFlip"))
def _(call, self, inputs, training=True):
    hit(not training)
    return call(self, inputs, training=True)


@mutant("tfk_aug_flip_joint", call_of("RandomFlip"))
def _(call, self, inputs, training=True):
    if not hit(training and self.mode == "horizontal_and_vertical"):
        return call(self, inputs, training)
    inputs = tf.convert_to_tensor(inputs)
    with fields(self, horizontal=True, vertical=False):
        once = call(self, inputs, training)
    flipped = tf.reduce_any(tf.not_equal(once, tf.cast(inputs, once.dtype)), axis=[1, 2, 3], keepdims=True)
    return tf.where(flipped, tf.reverse(once, axis=[1]), once)


def _one_draw(call, self, inputs, training=True):
    """The layer's random_uniform drawing for the first image only, repeated over the batch, for one training call."""
    if not training:
        return call(self, inputs, training)
    draw = self._random_generator.random_uniform

    def first(shape, *args, **kwargs):
        hit()
        return tf.repeat(draw(tf.concat([[1], shape[1:]], 0), *args, **kwargs), shape[0], axis=0)
    with mock.patch.object(self._random_generator, "random_uniform", first):
        return call(self, inputs, training)


mutant("tfk_aug_brightness_one_draw", call_of("RandomBrightness"))(_one_draw)
mutant("tfk_aug_rotation_one_draw", call_of("RandomRotation"))(_one_draw)


@mutant("tfk_aug_translation_range_halved", call_of("RandomTranslation"))
def _(call, self, inputs, training=True):
    hit(training)
    bounds = ("height_lower", "height_upper", "width_lower", "width_upper")
    with fields(self, **{k: getattr(self, k) / 2 for k in bounds}):
        return call(self, inputs, training)


@mutant("tfk_aug_contrast_upper_only", call_of("RandomContrast"))
def _(call, self, inputs, training=True):
    hit(training)
    with fields(self, lower=0.0):
        return call(self, inputs, training)


@mutant("tfk_aug_crop_random_in_inference", call_of("RandomCrop"))
def _(call, self, inputs, training=True):
    hit(not training)
    return call(self, inputs, training=True)
