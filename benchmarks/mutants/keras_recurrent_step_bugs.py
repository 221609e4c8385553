"""Bugs of Keras 3's recurrent dropout masks over time: each resets DropoutRNNCell's mask cache before every step, so
each step draws a fresh mask. The TensorFlow and torch backends run the step function once per step, so the reset
shows; the JAX backend traces the step once inside jax.lax.scan, where the reset happens once and changes nothing:
this module is listed by keras-tensorflow and keras-torch only (JAX would need a mutant of the scan's body)."""
from benchmarks.mutants.kit import hit, mutant

CELL = "keras.src.layers.rnn.dropout_rnn_cell.DropoutRNNCell"


def _fresh(rate, reset):
    """A mask getter drawing a new mask at every step (the cache reset before each)."""
    def get_mask(get, self, step_input):
        if hit(getattr(self, rate, 0) > 0):
            getattr(self, reset)()
        return get(self, step_input)
    return get_mask


mutant("rnn_input_mask_per_step", f"{CELL}.get_dropout_mask")(_fresh("dropout", "reset_dropout_mask"))
mutant("rnn_state_mask_per_step", f"{CELL}.get_recurrent_dropout_mask")(_fresh("recurrent_dropout", "reset_recurrent_dropout_mask"))
