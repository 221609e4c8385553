"""Semantic bugs that Keras 3 and Keras 2 (tf_keras) share (see benchmarks/mutants/__init__.py).

``register(layers)`` registers them against one package's own layer classes (``layers`` names
BatchNormalization, Dropout, SpatialDropout2D, GaussianDropout): the classes of both packages have the
same call signatures and the same attributes (trainable, momentum, epsilon, rate, noise_shape,
data_format), so one wrapper serves both. Each layer still runs and returns the right shape and dtype,
and is wrong in one behaviour only.
"""
import contextlib
import functools
import inspect

from benchmarks.mutants import hit, mutant


def wrap(cls, name, make):
    """Replace cls.<name> by make(original)."""
    original = getattr(cls, name)
    setattr(cls, name, functools.wraps(original)(make(original)))


@contextlib.contextmanager
def attribute(obj, name, value):
    """obj.<name> = value for the duration of one call (no setter side effects)."""
    old = obj.__dict__[name]
    obj.__dict__[name] = value
    try:
        yield
    finally:
        obj.__dict__[name] = old


def register(layers):
    BatchNormalization, Dropout = layers.BatchNormalization, layers.Dropout

    @mutant("bn_trainable_ignored", "trainable=False no longer forces inference mode (batch statistics, moving statistics updated)")
    def _():
        def make(call):
            def wrapper(self, inputs, training=None, mask=None):
                if training and not self.trainable:
                    hit()
                    with attribute(self, "_trainable", True):
                        return call(self, inputs, training=training, mask=mask)
                return call(self, inputs, training=training, mask=mask)
            return wrapper
        wrap(BatchNormalization, "call", make)

    @mutant("bn_momentum_reversed", "moving = (1 - momentum) moving + momentum batch (the PyTorch meaning in a Keras layer)")
    def _():
        def make(call):
            def wrapper(self, inputs, training=None, mask=None):
                if training and self.trainable:
                    hit()
                    with attribute(self, "momentum", 1.0 - self.momentum):
                        return call(self, inputs, training=training, mask=mask)
                return call(self, inputs, training=training, mask=mask)
            return wrapper
        wrap(BatchNormalization, "call", make)

    @mutant("bn_none_is_training", "training=None (a direct call without the flag) runs in training mode")
    def _():
        def make(call):
            def wrapper(self, inputs, training=None, mask=None):
                if training is None:
                    hit()
                    training = True
                return call(self, inputs, training=training, mask=mask)
            return wrapper
        wrap(BatchNormalization, "call", make)

    @mutant("bn_mask_ignored", "BatchNormalization ignores its mask: masked-out entries count in the batch statistics")
    def _():
        def make(call):
            def wrapper(self, inputs, training=None, mask=None):
                if mask is not None:
                    hit()
                return call(self, inputs, training=training, mask=None)
            return wrapper
        wrap(BatchNormalization, "call", make)

    @mutant("bn_epsilon_default", "default epsilon 1e-5 instead of the documented 1e-3")
    def _():
        # Keras reads __init__'s signature for get_config, so the default itself is changed (under
        # tf_keras's decorator, if any), not wrapped; hit() counts the layers built with epsilon 1e-5.
        init = inspect.unwrap(BatchNormalization.__init__)
        init.__defaults__ = tuple(1e-5 if d == 1e-3 else d for d in init.__defaults__)

        def make(build):
            def wrapper(self, input_shape):
                if self.epsilon == 1e-5:
                    hit()
                return build(self, input_shape)
            return wrapper
        wrap(BatchNormalization, "build", make)

    @mutant("do_eval_active", "Dropout drops in inference too (training forced to True)")
    def _():
        def make(call):
            def wrapper(self, inputs, training=None):
                if not training and self.rate > 0:
                    hit()
                return call(self, inputs, training=True)
            return wrapper
        wrap(Dropout, "call", make)

    @mutant("do_unscaled", "training dropout returns x * mask, without the 1 / (1 - rate) scale")
    def _():
        def make(call):
            def wrapper(self, inputs, training=None):
                if training and 0 < self.rate < 1:
                    hit()
                    return call(self, inputs, training=training) * (1.0 - self.rate)
                return call(self, inputs, training=training)
            return wrapper
        wrap(Dropout, "call", make)

    @mutant("do_noise_shape_ignored", "Dropout draws one value per element whatever noise_shape says")
    def _():
        def make(call):
            def wrapper(self, inputs, training=None):
                if training and self.noise_shape is not None:
                    hit()
                    with attribute(self, "noise_shape", None):
                        return call(self, inputs, training=training)
                return call(self, inputs, training=training)
            return wrapper
        wrap(Dropout, "call", make)

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
        wrap(layers.SpatialDropout2D, "_get_noise_shape", make)

    @mutant("do_gaussian_stddev", "GaussianDropout noise stddev rate / (1 - rate) instead of its square root")
    def _():
        def make(call):
            def wrapper(self, inputs, training=None):
                if training and 0 < self.rate < 1:
                    hit()
                    s = self.rate / (1.0 - self.rate)            # the wrong stddev; sqrt(r' / (1 - r')) = s
                    with attribute(self, "rate", s * s / (1.0 + s * s)):
                        return call(self, inputs, training=training)
                return call(self, inputs, training=training)
            return wrapper
        wrap(layers.GaussianDropout, "call", make)
