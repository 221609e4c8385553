"""Keras 2 through the tf_keras package, on TensorFlow (eager).

Quirks kept here: arrays cross the API as TensorFlow tensors (tf.cast from float64, Tensor.numpy()).
"""
import numpy as np
import tensorflow as tf
import tf_keras

from layerconf.adapters.keras_common import KerasAdapter, KerasRuntime


def _tensor(x, dtype):
    return tf.cast(tf.constant(np.asarray(x, dtype=np.float64)), dtype)


def _numpy(t):
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


def _default_device() -> str:
    """Where TensorFlow places ops by default: the first GPU, else the CPU."""
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return devices[0].name


def make_adapter(flavour, device: str = "cpu") -> KerasAdapter:
    if flavour.option("logical_cpus"):   # before _default_device starts TensorFlow's runtime
        from layerconf.adapters.keras_replicas import split_cpu
        split_cpu(flavour.option("logical_cpus"))
    return KerasAdapter(flavour, device, KerasRuntime(tf_keras, "tensorflow", _tensor, _numpy, _default_device()))
