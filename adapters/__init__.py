"""Adapter registry: framework identifier -> module, the packages it needs, and process constraints.

``exclusive_env`` names an environment variable that must hold a value before the framework is
imported (Keras 3 reads KERAS_BACKEND once): such frameworks run only in a process where it holds.
"""
import importlib
import importlib.util
import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    module: str
    needs: tuple[str, ...]
    exclusive_env: dict = field(default_factory=dict)


REGISTRY = {
    "torch": Entry("adapters.pytorch", ("torch",)),
    "keras-tensorflow": Entry("adapters.keras3", ("keras", "tensorflow"), {"KERAS_BACKEND": "tensorflow"}),
    "keras-jax": Entry("adapters.keras3", ("keras", "jax"), {"KERAS_BACKEND": "jax"}),
    "keras-torch": Entry("adapters.keras3", ("keras", "torch"), {"KERAS_BACKEND": "torch"}),
    "tf-keras": Entry("adapters.tf_keras", ("tf_keras", "tensorflow")),
    "flax-linen": Entry("adapters.flax_linen", ("flax", "jax", "optax")),
    "flax-nnx": Entry("adapters.flax_nnx", ("flax", "jax", "optax")),
    "onnxruntime": Entry("adapters.onnxruntime", ("onnx", "onnxruntime")),
}


class UnknownFramework(ValueError):
    pass


def entry(name: str) -> Entry:
    if name not in REGISTRY:
        raise UnknownFramework(f"--framework must be one of {sorted(REGISTRY)}, got {name!r}")
    return REGISTRY[name]


def installed(name: str) -> bool:
    """Every package the adapter needs can be imported."""
    return all(importlib.util.find_spec(pkg) is not None for pkg in entry(name).needs)


def shares_process(name: str) -> bool:
    """The framework can run in this process: its exclusive environment variables hold."""
    return all(os.environ.get(k) == v for k, v in entry(name).exclusive_env.items())


def default_frameworks() -> list[str]:
    """Installed frameworks that can run in this process."""
    return [n for n in REGISTRY if installed(n) and shares_process(n)]


def load(name: str, device: str = "cpu"):
    """Import the adapter module and build its Adapter (modules serving several frameworks get the name)."""
    return importlib.import_module(entry(name).module).make_adapter(name, device)
