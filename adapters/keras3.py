"""Keras 3 on the backend named by KERAS_BACKEND (keras-tensorflow, keras-jax, keras-torch).

Quirks kept here: on JAX, float64 needs jax_enable_x64 (set before the first array is made, as JAX
users do; without it JAX silently computes float64 layers in float32); arrays cross the API with
keras.ops.convert_to_tensor / convert_to_numpy.
"""
import keras
import numpy as np

from layerconf import specs
from layerconf.adapters.keras_common import Flavour, KerasAdapter

BACKENDS = {"keras-tensorflow": "tensorflow", "keras-jax": "jax", "keras-torch": "torch"}


def _tensor(x, dtype):
    return keras.ops.convert_to_tensor(np.asarray(x, dtype=np.float64), dtype=dtype)


def _numpy(t):
    return keras.ops.convert_to_numpy(t)


def _default_device(backend: str) -> str:
    """The device Keras places arrays on: the backend's first device (torch: cuda when available)."""
    if backend == "torch":   # keras.distribution has no torch implementation
        import torch
        return "cuda:0" if torch.cuda.is_available() else "cpu:0"
    return keras.distribution.list_devices()[0]


def make_adapter(name: str, device: str = "cpu") -> KerasAdapter:
    if name not in BACKENDS:
        raise ValueError(f"framework must be one of {sorted(BACKENDS)}, got {name!r}")
    backend = keras.backend.backend()
    if backend != BACKENDS[name]:
        raise RuntimeError(f"{name} needs KERAS_BACKEND={BACKENDS[name]}; keras was imported with backend {backend!r}")
    if backend == "jax":
        from layerconf.adapters import _jax  # x64 on, and the compilation cache
        _jax.use_compilation_cache()
    return KerasAdapter(name, Flavour(keras, backend, _tensor, _numpy, _default_device(backend)), specs.profile(name))
