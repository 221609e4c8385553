"""Bugs injected into Keras 3's random image augmentation layers (keras.src.layers.preprocessing.image_preprocessing),
shared by every backend: each wraps the layer's own call, get_random_transformation or transform_images.
"""
from keras.src.layers.preprocessing.image_preprocessing.random_brightness import RandomBrightness
from keras.src.layers.preprocessing.image_preprocessing.random_contrast import RandomContrast
from keras.src.layers.preprocessing.image_preprocessing.random_crop import RandomCrop
from keras.src.layers.preprocessing.image_preprocessing.random_flip import RandomFlip
from keras.src.layers.preprocessing.image_preprocessing.random_rotation import RandomRotation
from keras.src.layers.preprocessing.image_preprocessing.random_translation import RandomTranslation
from keras.src.layers.preprocessing.image_preprocessing.random_zoom import RandomZoom

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.keras_family import attribute, wrap


@mutant("aug_flip_in_inference", "RandomFlip flips in inference too (training=False treated as True)")
def _():
    def make(call):
        def wrapper(self, data, training=True):
            if not training:
                hit()
            return call(self, data, training=True)
        return wrapper
    wrap(RandomFlip, "call", make)


@mutant("aug_flip_probability", "RandomFlip flips each image with probability 0.4 instead of 1/2")
def _():
    def make(draw):
        def wrapper(self, data, training=True, seed=None):
            t = draw(self, data, training, seed)
            if t is not None:
                hit()
                keep = self.backend.random.uniform(self.backend.shape(t["flips"]), seed=self._get_seed_generator(self.backend._backend))
                t = {**t, "flips": self.backend.numpy.logical_and(t["flips"], self.backend.numpy.less(keep, 0.8))}
            return t
        return wrapper
    wrap(RandomFlip, "get_random_transformation", make)


@mutant("aug_translation_one_draw", "RandomTranslation shifts every image of a batch by the first image's shift")
def _():
    def make(draw):
        def wrapper(self, data, training=True, seed=None):
            t = draw(self, data, training, seed)
            if t is not None:
                hit()
                first = t["translations"][:1]
                t = {**t, "translations": self.backend.numpy.repeat(first, self.backend.shape(t["translations"])[0], axis=0)}
            return t
        return wrapper
    wrap(RandomTranslation, "get_random_transformation", make)


@mutant("aug_rotation_range_halved", "RandomRotation draws its angle from half the factor's range")
def _():
    def make(draw):
        def wrapper(self, data, training=True, seed=None):
            if training:
                hit()
            with attribute(self, "factor", tuple(f / 2 for f in self.factor)):
                return draw(self, data, training, seed)
        return wrapper
    wrap(RandomRotation, "get_random_transformation", make)


@mutant("aug_zoom_aspect_lost", "RandomZoom with width_factor=None draws the width's zoom apart from the height's")
def _():
    def make(draw):
        def wrapper(self, data, training=True, seed=None):
            t = draw(self, data, training, seed)
            if training and self.width_factor is None:
                hit()
                u = self.backend.random.uniform(self.backend.shape(t["width_zoom"]), minval=1.0 + self.height_lower,
                                                maxval=1.0 + self.height_upper, seed=self._get_seed_generator(self.backend._backend))
                t = {**t, "width_zoom": u}
            return t
        return wrapper
    wrap(RandomZoom, "get_random_transformation", make)


@mutant("aug_brightness_unclipped", "RandomBrightness adds its delta without clipping to value_range")
def _():
    def make(transform):
        def wrapper(self, images, transformation, training=True):
            if not training:
                return transform(self, images, transformation, training)
            hit()
            return images + self.backend.cast(transformation["rgb_delta"], images.dtype)
        return wrapper
    wrap(RandomBrightness, "transform_images", make)


@mutant("aug_contrast_image_mean", "RandomContrast centres on the mean over height, width and channels instead of per channel")
def _():
    def make(adjust):
        def wrapper(self, inputs, contrast_factor):
            hit()
            mean = self.backend.numpy.mean(inputs, axis=(-3, -2, -1), keepdims=True)
            return (inputs - mean) * contrast_factor + mean
        return wrapper
    wrap(RandomContrast, "_adjust_contrast", make)


@mutant("aug_crop_offset_halved", "RandomCrop in training draws its window's offsets from the first half of the range")
def _():
    def make(draw):
        def wrapper(self, data, training=True, seed=None):
            h_start, w_start = draw(self, data, training, seed)
            if training:
                hit()
                return h_start // 2, w_start // 2
            return h_start, w_start
        return wrapper
    wrap(RandomCrop, "get_random_transformation", make)


@mutant("aug_seed_ignored", "RandomFlip ignores its seed argument (its SeedGenerator is seeded from the global generator)")
def _():
    def make(init):
        def wrapper(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):   # Keras reads the signature
            init(self, mode=mode, seed=None, data_format=data_format, **kwargs)
            if seed is not None:
                hit()
                self.seed = seed
        return wrapper
    wrap(RandomFlip, "__init__", make)
