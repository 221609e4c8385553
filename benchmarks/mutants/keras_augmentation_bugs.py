"""Bugs of Keras 3's random image augmentation layers (keras.src.layers.preprocessing.image_preprocessing, shared by
every backend): each replaces the layer's own call, get_random_transformation or transform_images."""
from benchmarks.mutants.keras_family import fields
from benchmarks.mutants.kit import hit, mutant

PACKAGE = "keras.src.layers.preprocessing.image_preprocessing"
FLIP, TRANSLATION = f"{PACKAGE}.random_flip.RandomFlip", f"{PACKAGE}.random_translation.RandomTranslation"
ROTATION, ZOOM = f"{PACKAGE}.random_rotation.RandomRotation", f"{PACKAGE}.random_zoom.RandomZoom"
BRIGHTNESS, CONTRAST = f"{PACKAGE}.random_brightness.RandomBrightness", f"{PACKAGE}.random_contrast.RandomContrast"
CROP = f"{PACKAGE}.random_crop.RandomCrop"


def _uniform(self, shape, **bounds):
    return self.backend.random.uniform(shape, **bounds, seed=self._get_seed_generator(self.backend._backend))


@mutant("aug_flip_in_inference", f"{FLIP}.call")
def _(call, self, data, training=True):
    hit(not training)
    return call(self, data, training=True)


@mutant("aug_flip_probability", f"{FLIP}.get_random_transformation")
def _(draw, self, data, training=True, seed=None):
    t = draw(self, data, training, seed)
    if not hit(t is not None):
        return t
    keep = _uniform(self, self.backend.shape(t["flips"]))
    return {**t, "flips": self.backend.numpy.logical_and(t["flips"], self.backend.numpy.less(keep, 0.8))}


@mutant("aug_translation_one_draw", f"{TRANSLATION}.get_random_transformation")
def _(draw, self, data, training=True, seed=None):
    t = draw(self, data, training, seed)
    if not hit(t is not None):
        return t
    return {**t, "translations": self.backend.numpy.repeat(t["translations"][:1], self.backend.shape(t["translations"])[0], axis=0)}


@mutant("aug_rotation_range_halved", f"{ROTATION}.get_random_transformation")
def _(draw, self, data, training=True, seed=None):
    hit(training)
    with fields(self, factor=tuple(f / 2 for f in self.factor)):
        return draw(self, data, training, seed)


@mutant("aug_zoom_aspect_lost", f"{ZOOM}.get_random_transformation")
def _(draw, self, data, training=True, seed=None):
    t = draw(self, data, training, seed)
    if not hit(training and self.width_factor is None):
        return t
    return {**t, "width_zoom": _uniform(self, self.backend.shape(t["width_zoom"]), minval=1.0 + self.height_lower,
                                        maxval=1.0 + self.height_upper)}


@mutant("aug_brightness_unclipped", f"{BRIGHTNESS}.transform_images")
def _(transform, self, images, transformation, training=True):
    if not hit(training):
        return transform(self, images, transformation, training)
    return images + self.backend.cast(transformation["rgb_delta"], images.dtype)


@mutant("aug_contrast_image_mean", f"{CONTRAST}._adjust_contrast")
def _(adjust, self, inputs, contrast_factor):
    hit()
    mean = self.backend.numpy.mean(inputs, axis=(-3, -2, -1), keepdims=True)
    return (inputs - mean) * contrast_factor + mean


@mutant("aug_crop_offset_halved", f"{CROP}.get_random_transformation")
def _(draw, self, data, training=True, seed=None):
    h_start, w_start = draw(self, data, training, seed)
    return (h_start // 2, w_start // 2) if hit(training) else (h_start, w_start)


@mutant("aug_seed_ignored", f"{FLIP}.__init__")
def _(init, self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):   # Keras reads the signature
    init(self, mode=mode, seed=None, data_format=data_format, **kwargs)
    if hit(seed is not None):
        self.seed = seed
