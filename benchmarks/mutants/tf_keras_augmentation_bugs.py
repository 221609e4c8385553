"""Bugs injected into tf_keras' random image augmentation layers (tf_keras.src.layers.preprocessing.image_preprocessing):
each wraps the layer's own call, or its random generator for one call.
"""
import tensorflow as tf
from tf_keras.src.layers.preprocessing.image_preprocessing import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
)

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.keras_family import attribute, wrap


@mutant("tfk_aug_flip_in_inference", "RandomFlip flips in inference too (training=False treated as True)")
def _():
    def make(call):
        def wrapper(self, inputs, training=True):
            if not training:
                hit()
            return call(self, inputs, training=True)
        return wrapper
    wrap(RandomFlip, "call", make)


@mutant("tfk_aug_flip_joint", "RandomFlip horizontal_and_vertical flips both axes from one draw (as Keras 3 does)")
def _():
    def make(call):
        def wrapper(self, inputs, training=True):
            if not (training and self.mode == "horizontal_and_vertical"):
                return call(self, inputs, training)
            hit()
            inputs = tf.convert_to_tensor(inputs)
            with attribute(self, "horizontal", True), attribute(self, "vertical", False):
                once = call(self, inputs, training)
            flipped = tf.reduce_any(tf.not_equal(once, tf.cast(inputs, once.dtype)), axis=[1, 2, 3], keepdims=True)
            return tf.where(flipped, tf.reverse(once, axis=[1]), once)
        return wrapper
    wrap(RandomFlip, "call", make)


def _one_draw(cls):
    """cls.call with the layer's random_uniform drawing for the first image only and repeating it over the batch."""
    def make(call):
        def wrapper(self, inputs, training=True):
            if not training:
                return call(self, inputs, training)
            draw = self._random_generator.random_uniform

            def first(shape, *args, **kwargs):
                hit()
                return tf.repeat(draw(tf.concat([[1], shape[1:]], 0), *args, **kwargs), shape[0], axis=0)
            with _instance(self._random_generator, "random_uniform", first):
                return call(self, inputs, training)
        return wrapper
    wrap(cls, "call", make)


class _instance:
    """obj.<name> = value as an instance attribute for one call (the class's method otherwise)."""

    def __init__(self, obj, name, value):
        self.obj, self.name, self.value = obj, name, value

    def __enter__(self):
        setattr(self.obj, self.name, self.value)

    def __exit__(self, *exc):
        delattr(self.obj, self.name)


@mutant("tfk_aug_brightness_one_draw", "RandomBrightness adds one delta to the whole batch")
def _():
    _one_draw(RandomBrightness)


@mutant("tfk_aug_rotation_one_draw", "RandomRotation rotates every image of a batch by the first image's angle")
def _():
    _one_draw(RandomRotation)


@mutant("tfk_aug_translation_range_halved", "RandomTranslation draws its shifts from half the factors' range")
def _():
    def make(call):
        def wrapper(self, inputs, training=True):
            if training:
                hit()
            halved = {k: getattr(self, k) / 2 for k in ("height_lower", "height_upper", "width_lower", "width_upper")}
            saved = {k: getattr(self, k) for k in halved}
            vars(self).update(halved)
            try:
                return call(self, inputs, training)
            finally:
                vars(self).update(saved)
        return wrapper
    wrap(RandomTranslation, "call", make)


@mutant("tfk_aug_contrast_upper_only", "RandomContrast draws its factor in [1, 1 + f] (as Keras 3 does)")
def _():
    def make(call):
        def wrapper(self, inputs, training=True):
            if training:
                hit()
            with attribute(self, "lower", 0.0):
                return call(self, inputs, training)
        return wrapper
    wrap(RandomContrast, "call", make)


@mutant("tfk_aug_crop_random_in_inference", "RandomCrop crops at a random offset in inference instead of resizing the centred window")
def _():
    def make(call):
        def wrapper(self, inputs, training=True):
            if not training:
                hit()
            return call(self, inputs, training=True)
        return wrapper
    wrap(RandomCrop, "call", make)
