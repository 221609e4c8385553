"""Semantic bugs injected into Keras 3's Layer, for layers inside models (see benchmarks/mutants/__init__.py; the
family: specs/behaviours/models.yaml).

A layer called without ``training`` inherits the outer call's value from the call context
(``Layer._resolve_and_populate_arg``: the argument passed, else the context's, else the call signature's default);
``Layer.trainable``'s setter sets the flag on every sublayer. Each mutant makes one of them stop at the layer
called; ``hit()`` counts the calls whose result it changes. Read against keras 3.15.1 (keras/src/layers/layer.py).
"""
from keras.src.layers.layer import Layer

from benchmarks.mutants import hit, mutant


@mutant("keras_models_training_not_inherited",
        "a layer called without training= ignores the outer call's training (the call context), taking its default")
def _():
    original = Layer._resolve_and_populate_arg

    def resolve(self, arg_name, call_spec, call_context, kwargs):
        if arg_name in call_spec.user_arguments_dict or call_context.get_value(arg_name) is None:
            original(self, arg_name, call_spec, call_context, kwargs)
            return
        hit()
        value = call_spec.arguments_dict.get(arg_name, None)
        call_context.set_value(arg_name, value)
        if self._call_has_context_arg.get(arg_name, False) and value is not None:
            kwargs[arg_name] = value
    Layer._resolve_and_populate_arg = resolve


@mutant("keras_models_trainable_not_recursive",
        "Layer.trainable = False freezes the layer's own variables only, not its sublayers'")
def _():
    def setter(self, value):
        if self._layers:
            hit()
        self._trainable = bool(value)
        for v in self._trainable_variables:
            v.trainable = bool(value)
    Layer.trainable = Layer.trainable.setter(setter)
