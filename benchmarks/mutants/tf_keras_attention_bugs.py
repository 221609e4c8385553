"""keras_family's attention bugs in tf_keras's MultiHeadAttention."""
from tf_keras.src.layers.attention.multi_head_attention import MultiHeadAttention

from benchmarks.mutants import keras_family

keras_family.attention(MultiHeadAttention)
