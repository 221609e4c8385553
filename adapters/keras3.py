"""Keras 3 on the backend named by KERAS_BACKEND in the flavour's manifest (keras-tensorflow, keras-jax,
keras-torch), eagerly or on the compiled path its ``options.execution`` names: keras-tensorflow-xla
(compile(jit_compile=True), direct calls in tf.function(jit_compile=True)), keras-jax-jit (compile(jit_compile=True),
direct calls as jax.jit over layer.stateless_call); see adapters/keras_calls.py and keras_flag.py.
environment()["execution"] names the path.

Quirks kept here: on JAX, float64 needs jax_enable_x64 (set before the first array is made, as JAX
users do; without it JAX silently computes float64 layers in float32); arrays cross the API with
keras.ops.convert_to_tensor / convert_to_numpy.
"""
import os

import keras
import ml_dtypes
import numpy as np

from layerconf import cache
from layerconf.adapters.keras_common import KerasAdapter, KerasRuntime


def _tensor(x, dtype):
    """x as a tensor of ``dtype``, rounded to nearest on the host first, as a user's NumPy batch of that dtype
    arrives: handed float64, convert_to_tensor casts on the device, one XLA program per shape on eager JAX."""
    host = np.asarray(x, dtype=np.float64).astype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)
    return keras.ops.convert_to_tensor(host, dtype=dtype)


def _numpy(t):
    return keras.ops.convert_to_numpy(t)


def _default_device(backend: str) -> str:
    """The device Keras places arrays on: the backend's first device (torch: cuda when available)."""
    if backend == "torch":   # keras.distribution has no torch implementation
        import torch
        return "cuda:0" if torch.cuda.is_available() else "cpu:0"
    return keras.distribution.list_devices()[0]


def _use_xla_cache() -> None:
    """Keep the programs XLA compiles for TensorFlow in layerconf's cache folder (layerconf.cache): TensorFlow's
    persistent XLA cache, read from TF_XLA_FLAGS at the first compilation; a later run of the same checks reads
    them back instead of compiling each layer's functions again."""
    where = cache.folder("tensorflow-xla")
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if where is not None and "--tf_xla_persistent_cache_directory" not in flags:   # once, and never over the user's
        os.environ["TF_XLA_FLAGS"] = f"{flags} --tf_xla_persistent_cache_directory={where}".strip()


def make_adapter(flavour, device: str = "cpu") -> KerasAdapter:
    backend, execution = flavour.manifest["environment"]["KERAS_BACKEND"], flavour.option("execution", "eager")
    if keras.backend.backend() != backend:
        raise RuntimeError(f"{flavour.name} needs KERAS_BACKEND={backend}; keras was imported with backend "
                           f"{keras.backend.backend()!r}")
    if backend == "jax":
        from layerconf.adapters import _jax  # x64 on, and the compilation cache
        _jax.use_compilation_cache()
    if execution == "tf.function(jit_compile=True)":
        _use_xla_cache()
    if flavour.option("logical_cpus"):   # before _default_device starts TensorFlow's runtime
        from layerconf.adapters.keras_replicas import split_cpu
        split_cpu(flavour.option("logical_cpus"))
    runtime = KerasRuntime(keras, backend, _tensor, _numpy, _default_device(backend), execution)
    return KerasAdapter(flavour, device, runtime)
