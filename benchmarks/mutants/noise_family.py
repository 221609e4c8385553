"""Semantic bugs in GaussianNoise that Keras 3 and Keras 2 (tf_keras) share (see benchmarks/mutants/__init__.py).

``register(GaussianNoise, ops)`` registers them against one package's own class: both have __init__(stddev,
seed=None, **kwargs), call(inputs, training) and the attribute stddev, so one wrapper serves both; ``ops`` gives
the package's stop_gradient and clip(x, lo, hi). Each mutant leaves the shape and dtype right and is wrong in one
behaviour only.
"""
from benchmarks.mutants import hit, mutant
from benchmarks.mutants.keras_family import attribute, wrap


def register(GaussianNoise, ops):
    def on_training(change):
        """Wrap call: ``change(call, self, inputs)`` replaces a training call with noise (stddev > 0)."""
        def make(call):
            def wrapper(self, inputs, training=None):
                if training and self.stddev > 0:
                    hit()
                    return change(call, self, inputs)
                return call(self, inputs, training=training)
            return wrapper
        wrap(GaussianNoise, "call", make)

    @mutant("gn_noise_in_inference", "GaussianNoise adds its noise in inference too (training=False treated as True)")
    def _():
        def make(call):
            def wrapper(self, inputs, training=None):
                if not training and self.stddev > 0:
                    hit()
                return call(self, inputs, training=True)
            return wrapper
        wrap(GaussianNoise, "call", make)

    @mutant("gn_variance_for_stddev", "GaussianNoise draws with standard deviation stddev^2 (the argument read as a variance)")
    def _():
        def change(call, self, inputs):
            with attribute(self, "stddev", self.stddev**2):
                return call(self, inputs, training=True)
        on_training(change)

    @mutant("gn_multiplicative", "GaussianNoise multiplies: y = x (1 + z) instead of x + z")
    def _():
        on_training(lambda call, self, inputs: inputs + (call(self, inputs, training=True) - inputs) * inputs)

    @mutant("gn_one_draw_per_batch", "GaussianNoise draws the noise of one sample and broadcasts it over the batch")
    def _():
        on_training(lambda call, self, inputs: inputs + (call(self, inputs[:1], training=True) - inputs[:1]))

    @mutant("gn_truncated", "GaussianNoise clips its noise at +-stddev (variance 0.52 stddev^2)")
    def _():
        on_training(lambda call, self, inputs: inputs + ops.clip(call(self, inputs, training=True) - inputs,
                                                                 -self.stddev, self.stddev))

    @mutant("gn_mean_shift", "GaussianNoise draws from N(0.1 stddev, stddev^2): the noise is not centred")
    def _():
        on_training(lambda call, self, inputs: call(self, inputs, training=True) + 0.1 * self.stddev)

    @mutant("gn_gradient_stopped", "GaussianNoise stops the gradient in training: dL/dx = 0")
    def _():
        on_training(lambda call, self, inputs: ops.stop_gradient(call(self, inputs, training=True)))

    @mutant("gn_seed_ignored", "GaussianNoise ignores its seed argument: two layers of one seed draw different noise")
    def _():
        def make(init):
            def wrapper(self, stddev, seed=None, **kwargs):
                if seed is not None:
                    hit()
                return init(self, stddev, seed=None, **kwargs)
            return wrapper
        wrap(GaussianNoise, "__init__", make)
