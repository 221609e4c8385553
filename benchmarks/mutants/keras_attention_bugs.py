"""keras_family's attention bugs in Keras 3's MultiHeadAttention (keras.src.layers, shared by every backend)."""
from keras.src.layers.attention.multi_head_attention import MultiHeadAttention

from benchmarks.mutants import keras_family

keras_family.attention(MultiHeadAttention)
