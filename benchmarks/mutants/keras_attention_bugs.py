"""Bugs injected into Keras 3's MultiHeadAttention (keras.src.layers, shared by every backend): keras_attention_family."""
from keras.src.layers.attention.multi_head_attention import MultiHeadAttention

from benchmarks.mutants import keras_attention_family

keras_attention_family.register(MultiHeadAttention)
