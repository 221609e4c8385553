"""Bugs of tf_keras (Keras 2), for layers inside models (specs/behaviours/models.yaml; read against tf_keras 2.21.0,
tf_keras/src/engine/base_layer.py, base_layer_utils.py). A layer called without ``training`` takes the value its
calling layer was given (``Layer.__call__``'s priority 2: ``call_context.get_call_context_arg('training')``);
``Layer.trainable``'s setter sets ``_trainable`` on every layer of ``_flatten_layers()``. Each mutant makes one of
them stop at the layer called."""
from benchmarks.mutants.kit import hit, mutant


@mutant("tf_keras_models_training_not_inherited", "tf_keras.src.engine.base_layer_utils.CallContext.get_call_context_arg")
def _(get, self, arg_name):
    value = get(self, arg_name)
    return None if hit(arg_name == "training" and value is not None) else value


@mutant("tf_keras_models_trainable_not_recursive")
def _():
    from tf_keras.src.engine.base_layer import Layer

    def setter(self, value):
        hit(any(layer is not self for layer in self._flatten_layers()))
        self._trainable = value
    Layer.trainable = Layer.trainable.setter(setter)
