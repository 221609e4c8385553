"""Semantic bugs injected into tf_keras' recurrent dropout (see benchmarks/mutants/__init__.py).

The cells mix in DropoutRNNCellMixin, whose get_dropout_mask_for_cell / get_recurrent_dropout_mask_for_cell cache
one mask per call (ContextValueCache; the RNN layer resets it); the LSTM and GRU layers' fast path draws the input
mask once over the whole sequence. Each mutant wraps the mixin's or the cells' methods.
"""
import tensorflow as tf
from tf_keras.src.layers.rnn.dropout_rnn_cell_mixin import DropoutRNNCellMixin
from tf_keras.src.layers.rnn.gru import GRUCell
from tf_keras.src.layers.rnn.lstm import LSTMCell
from tf_keras.src.layers.rnn.simple_rnn import SimpleRNNCell

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.keras_family import attribute, wrap

CELLS = (SimpleRNNCell, LSTMCell, GRUCell)


def _fresh(rate, reset):
    """A getter drawing a new mask at every step (the cache reset before each)."""
    def make(get):
        def wrapper(self, inputs, training, count=1):
            if training and getattr(self, rate) > 0:
                hit()
                getattr(self, reset)()
            return get(self, inputs, training, count=count)
        return wrapper
    return make


@mutant("rnn_input_mask_per_step", "a fresh input dropout mask at every step instead of one per sequence")
def _():
    wrap(DropoutRNNCellMixin, "get_dropout_mask_for_cell", _fresh("dropout", "reset_dropout_mask"))


@mutant("rnn_state_mask_per_step", "a fresh recurrent dropout mask at every step instead of one per sequence")
def _():
    wrap(DropoutRNNCellMixin, "get_recurrent_dropout_mask_for_cell", _fresh("recurrent_dropout", "reset_recurrent_dropout_mask"))


@mutant("rnn_input_mask_ignored", "the input dropout mask is all ones: dropout=p drops nothing")
def _():
    def make(get):
        def wrapper(self, inputs, training, count=1):
            mask = get(self, inputs, training, count=count)
            if mask is None:
                return mask
            hit()
            return [tf.ones_like(m) for m in mask] if isinstance(mask, list) else tf.ones_like(mask)
        return wrapper
    wrap(DropoutRNNCellMixin, "get_dropout_mask_for_cell", make)


@mutant("rnn_keep_rate", "the masks drop with probability 1 - rate (the rate read as the keep probability)")
def _():
    def make(create, rate):
        def wrapper(self, inputs, training, count=1):
            hit()
            with attribute(self, rate, 1.0 - getattr(self, rate)):
                return create(self, inputs, training, count=count)
        return wrapper
    wrap(DropoutRNNCellMixin, "_create_dropout_mask", lambda f: make(f, "dropout"))
    wrap(DropoutRNNCellMixin, "_create_recurrent_dropout_mask", lambda f: make(f, "recurrent_dropout"))


@mutant("rnn_recurrent_dropout_in_inference", "recurrent dropout also in inference (the cell called with training=True)")
def _():
    def make(call):
        def wrapper(self, inputs, states, training=None):
            if not training and self.recurrent_dropout > 0:
                hit()
                with attribute(self, "dropout", 0.0):
                    return call(self, inputs, states, training=True)
            return call(self, inputs, states, training=training)
        return wrapper
    for cell in CELLS:
        wrap(cell, "call", make)
