"""Semantic bugs injected into Keras 3's recurrent dropout masks over time (see benchmarks/mutants/__init__.py).

DropoutRNNCell draws the input and the recurrent mask at the first step of a call and returns the cached masks at
every later step. Each mutant here resets that cache before every step, so each step draws a fresh mask. The
TensorFlow and torch backends run the step function once per step, so the reset shows; the JAX backend traces the
step once inside jax.lax.scan, so the reset happens once and the mutant changes nothing there: this module is listed
in the manifests of keras-tensorflow and keras-torch only (a per-step mask under JAX would need a mutant of the
scan's body, not of the cache).
"""
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.keras_family import wrap


def _fresh(getter, reset):
    """getter drawing a new mask at every step (the cache reset before each)."""
    def make(get):
        def wrapper(self, step_input):
            if getattr(self, getter.replace("get_", "").replace("_mask", ""), 0) > 0:
                hit()
                getattr(self, reset)()
            return get(self, step_input)
        return wrapper
    return make


@mutant("rnn_input_mask_per_step", "a fresh input dropout mask at every step instead of one per sequence")
def _():
    wrap(DropoutRNNCell, "get_dropout_mask", _fresh("get_dropout_mask", "reset_dropout_mask"))


@mutant("rnn_state_mask_per_step", "a fresh recurrent dropout mask at every step instead of one per sequence")
def _():
    wrap(DropoutRNNCell, "get_recurrent_dropout_mask", _fresh("get_recurrent_dropout_mask", "reset_recurrent_dropout_mask"))
