"""Semantic bugs injected into tf_keras (Keras 2), for layers inside models (see benchmarks/mutants/__init__.py; the
family: specs/behaviours/models.yaml).

A layer called without ``training`` takes the value its calling layer was given (``Layer.__call__``'s priority 2:
``call_context.get_call_context_arg('training')``); ``Layer.trainable``'s setter sets ``_trainable`` on every layer of
``_flatten_layers()``. Each mutant makes one of them stop at the layer called; ``hit()`` counts the calls whose
result it changes. Read against tf_keras 2.21.0 (tf_keras/src/engine/base_layer.py, base_layer_utils.py).
"""
from tf_keras.src.engine import base_layer_utils
from tf_keras.src.engine.base_layer import Layer

from benchmarks.mutants import hit, mutant


@mutant("tf_keras_models_training_not_inherited",
        "a layer called without training= ignores its calling layer's training (the call context)")
def _():
    original = base_layer_utils.CallContext.get_call_context_arg

    def get(self, arg_name):
        value = original(self, arg_name)
        if arg_name == "training" and value is not None:
            hit()
            return None
        return value
    base_layer_utils.CallContext.get_call_context_arg = get


@mutant("tf_keras_models_trainable_not_recursive",
        "Layer.trainable = False sets the flag on the layer itself, not on its sublayers")
def _():
    def setter(self, value):
        if any(layer is not self for layer in self._flatten_layers()):
            hit()
        self._trainable = value
    Layer.trainable = Layer.trainable.setter(setter)
