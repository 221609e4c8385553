"""Semantic bugs injected into Keras 3's recurrent dropout (see benchmarks/mutants/__init__.py).

The cells (SimpleRNNCell, LSTMCell, GRUCell) mix in DropoutRNNCell, which draws the input and the recurrent mask at
the first step of a call and returns the cached masks at every later step; the RNN layer resets them after the
call. Each mutant wraps a method of DropoutRNNCell or of the cells, which every backend shares.
"""
from keras.src import ops
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell
from keras.src.layers.rnn.gru import GRUCell
from keras.src.layers.rnn.lstm import LSTMCell
from keras.src.layers.rnn.simple_rnn import SimpleRNNCell

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.keras_family import attribute, wrap

CELLS = (SimpleRNNCell, LSTMCell, GRUCell)


@mutant("rnn_input_mask_ignored", "the input dropout mask is all ones: dropout=p drops nothing")
def _():
    def make(get):
        def wrapper(self, step_input):
            mask = get(self, step_input)
            if mask is None:
                return mask
            hit()
            return [ops.ones_like(m) for m in mask] if isinstance(mask, list) else ops.ones_like(mask)
        return wrapper
    wrap(DropoutRNNCell, "get_dropout_mask", make)


@mutant("rnn_keep_rate", "the masks drop with probability 1 - rate (the rate read as the keep probability)")
def _():
    def make(create):
        def wrapper(self, step_input, dropout_rate):
            hit()
            return create(self, step_input, 1.0 - dropout_rate)
        return wrapper
    wrap(DropoutRNNCell, "_create_dropout_mask", make)


@mutant("rnn_recurrent_dropout_in_inference", "recurrent dropout also in inference (the cell called with training=True)")
def _():
    def make(call):
        def wrapper(self, inputs, states, training=False):
            if not training and self.recurrent_dropout > 0:
                hit()
                with attribute(self, "dropout", 0.0):
                    return call(self, inputs, states, training=True)
            return call(self, inputs, states, training=training)
        return wrapper
    for cell in CELLS:
        wrap(cell, "call", make)
