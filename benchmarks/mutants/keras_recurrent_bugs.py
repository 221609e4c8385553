"""Bugs of Keras 3's recurrent dropout: the cells (SimpleRNNCell, LSTMCell, GRUCell) mix in DropoutRNNCell, which
draws the input and the recurrent mask at the first step of a call and returns the cached masks at every later
step; the RNN layer resets them after the call. Each replaces a method of DropoutRNNCell or of the cells."""
from keras.src import ops

from benchmarks.mutants.keras_family import fields
from benchmarks.mutants.kit import hit, mutant

CELL = "keras.src.layers.rnn.dropout_rnn_cell.DropoutRNNCell"
CALLS = [f"keras.src.layers.rnn.{m}.call" for m in ("simple_rnn.SimpleRNNCell", "lstm.LSTMCell", "gru.GRUCell")]


@mutant("rnn_input_mask_ignored", f"{CELL}.get_dropout_mask")
def _(get, self, step_input):
    mask = get(self, step_input)
    if not hit(mask is not None):
        return mask
    return [ops.ones_like(m) for m in mask] if isinstance(mask, list) else ops.ones_like(mask)


@mutant("rnn_keep_rate", f"{CELL}._create_dropout_mask")
def _(create, self, step_input, dropout_rate):
    hit()
    return create(self, step_input, 1.0 - dropout_rate)


@mutant("rnn_recurrent_dropout_in_inference", *CALLS)
def _(call, self, inputs, states, training=False):
    if not hit(not training and self.recurrent_dropout > 0):
        return call(self, inputs, states, training=training)
    with fields(self, dropout=0.0):
        return call(self, inputs, states, training=True)
