"""Semantic bugs injected into Keras 3 (see benchmarks/mutants/__init__.py for the machinery).

Each mutant wraps a method of Keras's own layer classes (keras.src.layers...), which every backend
shares, so the same mutant applies to keras-tensorflow, keras-jax and keras-torch. The layer still
runs and returns the right shape and dtype, and is wrong in one behaviour only.
"""
import contextlib
import functools
import math

from keras.src.layers.normalization.batch_normalization import BatchNormalization
from keras.src.layers.regularization.dropout import Dropout
from keras.src.layers.regularization.gaussian_dropout import GaussianDropout
from keras.src.layers.regularization.spatial_dropout import SpatialDropout2D
from keras.src.random.seed_generator import SeedGenerator

from benchmarks.mutants import hit, mutant


def _wrap(cls, name, make):
    """Replace cls.<name> by make(original)."""
    original = getattr(cls, name)
    setattr(cls, name, functools.wraps(original)(make(original)))


@contextlib.contextmanager
def _attribute(obj, name, value):
    """obj.<name> = value for the duration of one call (no setter side effects)."""
    old = obj.__dict__[name]
    obj.__dict__[name] = value
    try:
        yield
    finally:
        obj.__dict__[name] = old


# ---------------------------------------------------------------- BatchNormalization

@mutant("bn_trainable_ignored", "trainable=False no longer forces inference mode (batch statistics, moving statistics updated)")
def _():
    def make(call):
        def wrapper(self, inputs, training=None, mask=None):
            if training and not self.trainable:
                hit()
                with _attribute(self, "_trainable", True):
                    return call(self, inputs, training=training, mask=mask)
            return call(self, inputs, training=training, mask=mask)
        return wrapper
    _wrap(BatchNormalization, "call", make)


@mutant("bn_momentum_reversed", "moving = (1 - momentum) moving + momentum batch (the PyTorch meaning in a Keras layer)")
def _():
    def make(call):
        def wrapper(self, inputs, training=None, mask=None):
            if training and self.trainable:
                hit()
                with _attribute(self, "momentum", 1.0 - self.momentum):
                    return call(self, inputs, training=training, mask=mask)
            return call(self, inputs, training=training, mask=mask)
        return wrapper
    _wrap(BatchNormalization, "call", make)


@mutant("bn_none_is_training", "training=None (a direct call without the flag) runs in training mode")
def _():
    def make(call):
        def wrapper(self, inputs, training=None, mask=None):
            if training is None:
                hit()
                training = True
            return call(self, inputs, training=training, mask=mask)
        return wrapper
    _wrap(BatchNormalization, "call", make)


@mutant("bn_epsilon_default", "default epsilon 1e-5 instead of the documented 1e-3")
def _():
    # Keras reads __init__'s signature for get_config, so the default itself is changed, not wrapped;
    # hit() counts the layers built with epsilon 1e-5 (an explicit 1e-5 counts too).
    init = BatchNormalization.__init__
    init.__defaults__ = tuple(1e-5 if d == 1e-3 else d for d in init.__defaults__)

    def make(build):
        def wrapper(self, input_shape):
            if self.epsilon == 1e-5:
                hit()
            return build(self, input_shape)
        return wrapper
    _wrap(BatchNormalization, "build", make)


@mutant("bn_unbiased_variance", "batch variance with Bessel's correction n/(n-1), for normalising and for the moving update")
def _():
    def make(moments):
        def wrapper(self, inputs, mask):
            mean, variance = moments(self, inputs, mask)
            hit()
            n = math.prod(int(inputs.shape[a]) for a in self._reduction_axes)
            return mean, variance * (n / max(n - 1, 1))
        return wrapper
    _wrap(BatchNormalization, "_moments", make)


# ---------------------------------------------------------------- Dropout family

@mutant("do_eval_active", "Dropout drops in inference too (training forced to True)")
def _():
    def make(call):
        def wrapper(self, inputs, training=False):
            if not training and self.rate > 0:
                hit()
            return call(self, inputs, training=True)
        return wrapper
    _wrap(Dropout, "call", make)


@mutant("do_unscaled", "training dropout returns x * mask, without the 1 / (1 - rate) scale")
def _():
    def make(call):
        def wrapper(self, inputs, training=False):
            if training and 0 < self.rate < 1:
                hit()
                return call(self, inputs, training=training) * (1.0 - self.rate)
            return call(self, inputs, training=training)
        return wrapper
    _wrap(Dropout, "call", make)


@mutant("do_noise_shape_ignored", "Dropout draws one value per element whatever noise_shape says")
def _():
    def make(call):
        def wrapper(self, inputs, training=False):
            if training and self.noise_shape is not None:
                hit()
                with _attribute(self, "noise_shape", None):
                    return call(self, inputs, training=training)
            return call(self, inputs, training=training)
        return wrapper
    _wrap(Dropout, "call", make)


@mutant("do_spatial2d_channels_last", "SpatialDropout2D always drops along the last axis, ignoring data_format='channels_first'")
def _():
    def make(noise_shape):
        def wrapper(self, inputs):
            if self.data_format == "channels_first":
                hit()
                shape = tuple(inputs.shape)
                return (shape[0], 1, 1, shape[3])
            return noise_shape(self, inputs)
        return wrapper
    _wrap(SpatialDropout2D, "_get_noise_shape", make)


@mutant("do_gaussian_stddev", "GaussianDropout noise stddev rate / (1 - rate) instead of its square root")
def _():
    def make(call):
        def wrapper(self, inputs, training=False):
            if training and 0 < self.rate < 1:
                hit()
                s = self.rate / (1.0 - self.rate)            # the wrong stddev; sqrt(r' / (1 - r')) = s
                with _attribute(self, "rate", s * s / (1.0 + s * s)):
                    return call(self, inputs, training=training)
            return call(self, inputs, training=training)
        return wrapper
    _wrap(GaussianDropout, "call", make)


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
    _wrap(SeedGenerator, "next", make)
