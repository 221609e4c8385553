"""Semantic bugs injected into Keras 3 BatchNormalization's batch renormalization (renorm, Keras >= 3.14), shared by
every backend (see benchmarks/mutants/__init__.py). Each wraps a method of Keras's own layer class, or the module's
ops where the layer calls ops.stop_gradient."""
from keras.src import ops
from keras.src.layers.normalization import batch_normalization as module

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.keras_family import attribute, wrap

BatchNormalization = module.BatchNormalization


@mutant("renorm_unclipped", "renorm: r and d not clipped (renorm_clipping ignored)")
def _():
    def make(corrections):
        def wrapper(self, mean, variance):
            if self.renorm_clipping:
                hit()
                with attribute(self, "renorm_clipping", {}):
                    return corrections(self, mean, variance)
            return corrections(self, mean, variance)
        return wrapper
    wrap(BatchNormalization, "_renorm_correction_and_moments", make)


@mutant("renorm_statistics_frozen", "renorm: renorm_mean and renorm_stddev never move (their update undone)")
def _():
    def make(update):
        def wrapper(self, mean, variance):
            hit()
            before = [ops.copy(v.value) for v in (self.renorm_mean, self.renorm_stddev)]
            update(self, mean, variance)
            for variable, value in zip((self.renorm_mean, self.renorm_stddev), before):
                variable.assign(value)
        return wrapper
    wrap(BatchNormalization, "_update_renorm_statistics", make)


@mutant("renorm_gradient_through_rd", "renorm: r and d not wrapped in stop_gradient, so the gradient flows through them")
def _():
    class Ops:
        def __getattr__(self, name):
            return getattr(ops, name)

        @staticmethod
        def stop_gradient(x):
            hit()
            return x
    module.ops = Ops()
