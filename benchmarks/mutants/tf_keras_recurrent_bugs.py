"""Bugs of tf_keras' recurrent dropout: the cells mix in DropoutRNNCellMixin, whose get_dropout_mask_for_cell /
get_recurrent_dropout_mask_for_cell cache one mask per call (ContextValueCache; the RNN layer resets it); the LSTM
and GRU layers' fast path draws the input mask once over the whole sequence. Each replaces the mixin's or the cells'
methods."""
import tensorflow as tf

from benchmarks.mutants.keras_family import fields
from benchmarks.mutants.kit import hit, mutant, replace

MIXIN = "tf_keras.src.layers.rnn.dropout_rnn_cell_mixin.DropoutRNNCellMixin"
CALLS = [f"tf_keras.src.layers.rnn.{m}.call" for m in ("simple_rnn.SimpleRNNCell", "lstm.LSTMCell", "gru.GRUCell")]


def _fresh(rate, reset):
    """A mask getter drawing a new mask at every step (the cache reset before each)."""
    def get_mask(get, self, inputs, training, count=1):
        if hit(training and getattr(self, rate) > 0):
            getattr(self, reset)()
        return get(self, inputs, training, count=count)
    return get_mask


mutant("rnn_input_mask_per_step", f"{MIXIN}.get_dropout_mask_for_cell")(_fresh("dropout", "reset_dropout_mask"))
mutant("rnn_state_mask_per_step", f"{MIXIN}.get_recurrent_dropout_mask_for_cell")(
    _fresh("recurrent_dropout", "reset_recurrent_dropout_mask"))


@mutant("rnn_input_mask_ignored", f"{MIXIN}.get_dropout_mask_for_cell")
def _(get, self, inputs, training, count=1):
    mask = get(self, inputs, training, count=count)
    if not hit(mask is not None):
        return mask
    return [tf.ones_like(m) for m in mask] if isinstance(mask, list) else tf.ones_like(mask)


def _keep_rate(rate):
    def create(original, self, inputs, training, count=1):
        hit()
        with fields(self, **{rate: 1.0 - getattr(self, rate)}):
            return original(self, inputs, training, count=count)
    return create


@mutant("rnn_keep_rate")
def _():
    replace(f"{MIXIN}._create_dropout_mask", _keep_rate("dropout"))
    replace(f"{MIXIN}._create_recurrent_dropout_mask", _keep_rate("recurrent_dropout"))


@mutant("rnn_recurrent_dropout_in_inference", *CALLS)
def _(call, self, inputs, states, training=None):
    if not hit(not training and self.recurrent_dropout > 0):
        return call(self, inputs, states, training=training)
    with fields(self, dropout=0.0):
        return call(self, inputs, states, training=True)
