"""Bugs of Keras 3's Layer, for layers inside models (specs/behaviours/models.yaml; read against keras 3.15.1,
keras/src/layers/layer.py). A layer called without ``training`` inherits the outer call's value from the call context
(``Layer._resolve_and_populate_arg``: the argument passed, else the context's, else the call signature's default);
``Layer.trainable``'s setter sets the flag on every sublayer. Each mutant makes one of them stop at the layer called."""
from benchmarks.mutants.kit import hit, mutant


@mutant("keras_models_training_not_inherited", "keras.src.layers.layer.Layer._resolve_and_populate_arg")
def _(resolve, self, arg_name, call_spec, call_context, kwargs):
    if not hit(arg_name not in call_spec.user_arguments_dict and call_context.get_value(arg_name) is not None):
        resolve(self, arg_name, call_spec, call_context, kwargs)
        return
    value = call_spec.arguments_dict.get(arg_name, None)
    call_context.set_value(arg_name, value)
    if self._call_has_context_arg.get(arg_name, False) and value is not None:
        kwargs[arg_name] = value


@mutant("keras_models_trainable_not_recursive")
def _():
    from keras.src.layers.layer import Layer

    def setter(self, value):
        hit(bool(self._layers))
        self._trainable = bool(value)
        for v in self._trainable_variables:
            v.trainable = bool(value)
    Layer.trainable = Layer.trainable.setter(setter)
