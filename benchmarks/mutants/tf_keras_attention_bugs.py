"""Bugs injected into tf_keras's MultiHeadAttention: keras_attention_family."""
from tf_keras.src.layers.attention.multi_head_attention import MultiHeadAttention

from benchmarks.mutants import keras_attention_family

keras_attention_family.register(MultiHeadAttention)
