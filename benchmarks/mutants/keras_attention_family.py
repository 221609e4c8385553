"""Semantic bugs in MultiHeadAttention that Keras 3 and Keras 2 (tf_keras) share (benchmarks/mutants/__init__.py).

``register(cls)`` wraps ``cls._compute_attention(query, key, value, attention_mask, training, ...)`` of one
package's MultiHeadAttention: both drop the softmax scores with ``self._dropout_layer`` (a Dropout of rate
``self._dropout``) before the einsum with the value. Each layer still runs and returns the right shapes.
"""
from benchmarks.mutants import hit, keras_family, mutant


def _dropping(self, training) -> bool:
    return bool(training) and self._dropout > 0


def register(cls):
    def compute(change):
        def make(original):
            def wrapper(self, query, key, value, attention_mask=None, training=None, *rest, **kw):
                return change(original, self, (query, key, value, attention_mask), training, rest, kw)
            return wrapper
        keras_family.wrap(cls, "_compute_attention", make)

    @mutant("attn_dropout_in_eval", "the attention scores are dropped in inference too (the training flag ignored)")
    def _():
        def change(original, self, inputs, training, rest, kw):
            if not training and self._dropout > 0:
                hit()
                training = True
            return original(self, *inputs, training, *rest, **kw)
        compute(change)

    @mutant("attn_rate_complement", "the scores are dropped with probability 1 - rate")
    def _():
        def change(original, self, inputs, training, rest, kw):
            if not _dropping(self, training):
                return original(self, *inputs, training, *rest, **kw)
            hit()
            with keras_family.attribute(self._dropout_layer, "rate", 1.0 - self._dropout):
                return original(self, *inputs, training, *rest, **kw)
        compute(change)

    @mutant("attn_not_rescaled", "the kept attention scores are not scaled by 1/(1-rate)")
    def _():
        def change(original, self, inputs, training, rest, kw):
            if not _dropping(self, training):
                return original(self, *inputs, training, *rest, **kw)
            hit()
            dropout, keep = self._dropout_layer, 1.0 - self._dropout
            with keras_family.attribute(self, "_dropout_layer", lambda x, training=None: dropout(x, training=training) * keep):
                return original(self, *inputs, training, *rest, **kw)
        compute(change)

    @mutant("attn_dropout_on_output", "the dropout acts on the attention output (before the output projection), not the scores")
    def _():
        def change(original, self, inputs, training, rest, kw):
            if not _dropping(self, training):
                return original(self, *inputs, training, *rest, **kw)
            hit()
            output, scores = original(self, *inputs, False, *rest, **kw)
            return self._dropout_layer(output, training=training), scores
        compute(change)
