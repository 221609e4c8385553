"""Bugs that Keras 3 and Keras 2 (tf_keras) share, registered against one package's own layer classes: both have the
same call signatures and attributes, so one replacement serves both. ``layers(ns)`` (ns: BatchNormalization,
Dropout, SpatialDropout2D, GaussianDropout), ``attention(MultiHeadAttention)`` (both drop the softmax scores with
``self._dropout_layer``, a Dropout of rate ``self._dropout``, inside ``_compute_attention``) and ``noise(GaussianNoise,
ops)`` (ops: the package's stop_gradient and clip(x, lo, hi))."""
import inspect

from benchmarks.mutants.kit import attributes, hit, mutant, replace


def fields(layer, **values):
    """A layer's attributes set for one call, straight in its __dict__ (no tracking by the layer's __setattr__)."""
    return attributes(layer, raw=True, **values)


def layers(ns):
    BN, DROPOUT = (ns.BatchNormalization, "call"), (ns.Dropout, "call")

    @mutant("bn_trainable_ignored", BN)
    def _(call, self, inputs, training=None, mask=None):
        if not hit(training and not self.trainable):
            return call(self, inputs, training=training, mask=mask)
        with fields(self, _trainable=True):
            return call(self, inputs, training=training, mask=mask)

    @mutant("bn_momentum_reversed", BN)
    def _(call, self, inputs, training=None, mask=None):
        if not hit(training and self.trainable):
            return call(self, inputs, training=training, mask=mask)
        with fields(self, momentum=1.0 - self.momentum):
            return call(self, inputs, training=training, mask=mask)

    @mutant("bn_none_is_training", BN)
    def _(call, self, inputs, training=None, mask=None):
        return call(self, inputs, training=True if hit(training is None) else training, mask=mask)

    @mutant("bn_mask_ignored", BN)
    def _(call, self, inputs, training=None, mask=None):
        hit(mask is not None)
        return call(self, inputs, training=training, mask=None)

    @mutant("bn_epsilon_default")
    def _():
        # Keras reads __init__'s signature for get_config, so the default itself is changed (under tf_keras's
        # decorator, if any), not wrapped; hit() counts the layers built with epsilon 1e-5.
        init = inspect.unwrap(ns.BatchNormalization.__init__)
        init.__defaults__ = tuple(1e-5 if d == 1e-3 else d for d in init.__defaults__)
        def build(original, self, input_shape):
            hit(self.epsilon == 1e-5)
            return original(self, input_shape)
        replace((ns.BatchNormalization, "build"), build)

    @mutant("do_eval_active", DROPOUT)
    def _(call, self, inputs, training=None):
        hit(not training and self.rate > 0)
        return call(self, inputs, training=True)

    @mutant("do_unscaled", DROPOUT)
    def _(call, self, inputs, training=None):
        y = call(self, inputs, training=training)
        return y * (1.0 - self.rate) if hit(training and 0 < self.rate < 1) else y

    @mutant("do_noise_shape_ignored", DROPOUT)
    def _(call, self, inputs, training=None):
        if not hit(training and self.noise_shape is not None):
            return call(self, inputs, training=training)
        with fields(self, noise_shape=None):
            return call(self, inputs, training=training)

    @mutant("do_spatial2d_channels_last", (ns.SpatialDropout2D, "_get_noise_shape"))
    def _(noise_shape, self, inputs):
        shape = tuple(inputs.shape)
        return (shape[0], 1, 1, shape[3]) if hit(self.data_format == "channels_first") else noise_shape(self, inputs)

    @mutant("do_gaussian_stddev", (ns.GaussianDropout, "call"))
    def _(call, self, inputs, training=None):
        if not hit(training and 0 < self.rate < 1):
            return call(self, inputs, training=training)
        s = self.rate / (1.0 - self.rate)            # the wrong stddev; sqrt(r' / (1 - r')) = s
        with fields(self, rate=s * s / (1.0 + s * s)):
            return call(self, inputs, training=training)


def attention(cls):
    COMPUTE = (cls, "_compute_attention")

    def dropping(self, training) -> bool:
        return bool(training) and self._dropout > 0

    @mutant("attn_dropout_in_eval", COMPUTE)
    def _(original, self, query, key, value, attention_mask=None, training=None, *rest, **kw):
        training = True if hit(not training and self._dropout > 0) else training
        return original(self, query, key, value, attention_mask, training, *rest, **kw)

    @mutant("attn_rate_complement", COMPUTE)
    def _(original, self, query, key, value, attention_mask=None, training=None, *rest, **kw):
        if not hit(dropping(self, training)):
            return original(self, query, key, value, attention_mask, training, *rest, **kw)
        with fields(self._dropout_layer, rate=1.0 - self._dropout):
            return original(self, query, key, value, attention_mask, training, *rest, **kw)

    @mutant("attn_not_rescaled", COMPUTE)
    def _(original, self, query, key, value, attention_mask=None, training=None, *rest, **kw):
        if not hit(dropping(self, training)):
            return original(self, query, key, value, attention_mask, training, *rest, **kw)
        dropout, keep = self._dropout_layer, 1.0 - self._dropout
        with fields(self, _dropout_layer=lambda x, training=None: dropout(x, training=training) * keep):
            return original(self, query, key, value, attention_mask, training, *rest, **kw)

    @mutant("attn_dropout_on_output", COMPUTE)
    def _(original, self, query, key, value, attention_mask=None, training=None, *rest, **kw):
        if not hit(dropping(self, training)):
            return original(self, query, key, value, attention_mask, training, *rest, **kw)
        output, scores = original(self, query, key, value, attention_mask, False, *rest, **kw)
        return self._dropout_layer(output, training=training), scores


def noise(GaussianNoise, ops):
    CALL = (GaussianNoise, "call")

    def on_training(change):
        """A call whose training calls with noise (stddev > 0) are change(call, self, inputs)."""
        def wrapper(call, self, inputs, training=None):
            return change(call, self, inputs) if hit(training and self.stddev > 0) else call(self, inputs, training=training)
        return wrapper

    @mutant("gn_noise_in_inference", CALL)
    def _(call, self, inputs, training=None):
        hit(not training and self.stddev > 0)
        return call(self, inputs, training=True)

    @mutant("gn_variance_for_stddev", CALL)
    @on_training
    def _(call, self, inputs):
        with fields(self, stddev=self.stddev**2):
            return call(self, inputs, training=True)

    def noisy(call, self, inputs):
        return call(self, inputs, training=True)

    mutant("gn_multiplicative", CALL)(on_training(lambda call, self, x: x + (noisy(call, self, x) - x) * x))
    mutant("gn_one_draw_per_batch", CALL)(on_training(lambda call, self, x: x + (noisy(call, self, x[:1]) - x[:1])))
    mutant("gn_truncated", CALL)(on_training(lambda call, self, x: x + ops.clip(noisy(call, self, x) - x, -self.stddev, self.stddev)))
    mutant("gn_mean_shift", CALL)(on_training(lambda call, self, x: noisy(call, self, x) + 0.1 * self.stddev))
    mutant("gn_gradient_stopped", CALL)(on_training(lambda call, self, x: ops.stop_gradient(noisy(call, self, x))))

    @mutant("gn_seed_ignored", (GaussianNoise, "__init__"))
    def _(init, self, stddev, seed=None, **kwargs):
        hit(seed is not None)
        return init(self, stddev, seed=None, **kwargs)
