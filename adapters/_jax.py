"""What the Flax adapters (linen and nnx) share: JAX arrays in and out, dtypes, the loss, the layer axes.

float64 needs JAX's x64 mode, which a float64 user switches on once (jax_enable_x64); it leaves
float32/float16/bfloat16 arithmetic as it is. Half-precision inputs run through a layer whose
computation dtype is the input's and whose parameters are float32 (Flax's mixed-precision recipe:
``dtype=`` the activations' dtype, ``param_dtype=float32``).
"""
import contextlib

import jax
import jax.numpy as jnp
import numpy as np

from layerconf import cache
from layerconf.adapters.base import DeviceUnavailable

jax.config.update("jax_enable_x64", True)

DTYPES = {"float64": jnp.float64, "float32": jnp.float32, "float16": jnp.float16, "bfloat16": jnp.bfloat16}


def dtypes(dtype: str) -> dict:
    """The layer's dtype (computation and output) and param_dtype for input of ``dtype``."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return {"dtype": DTYPES[dtype], "param_dtype": jnp.float64 if dtype == "float64" else jnp.float32}


def to_jax(x, dtype) -> jax.Array:
    """x on JAX's default device in ``dtype`` (a name of DTYPES, or a dtype), rounded to nearest on the host, as a
    user's NumPy batch arrives by jax.device_put: a cast on the device (``.astype``, ``jnp.asarray(x, dtype)``)
    would compile one XLA program per shape and dtype in eager mode."""
    return jax.device_put(np.asarray(x, dtype=np.float64).astype(np.dtype(DTYPES.get(dtype, dtype))))


def to_numpy(a) -> np.ndarray:
    return np.asarray(jax.device_get(a))


def channel_axis(layout: str) -> int:
    """Flax BatchNorm's ``axis``: the position of C in the layout (Flax accepts any axis)."""
    return layout.index("C")


def spatial_axes(layout: str) -> tuple[int, ...]:
    """Dropout's ``broadcast_dims`` for channel-wise dropout: every axis but N and C."""
    return tuple(i for i, a in enumerate(layout) if a not in "NC")


def weighted_sum(y, dy):
    """The loss L = sum(dy * y) of every gradient and optimizer step, in y's dtype."""
    return jnp.sum(y * dy.astype(y.dtype))


def use_compilation_cache() -> None:
    """Keep every compiled program in layerconf's cache folder (layerconf.cache), however small or quick to
    compile: in eager mode JAX compiles each operation for each new shape, and a later run reads them back."""
    where = cache.folder("jax")
    if where is None:
        return
    for option, value in (("jax_compilation_cache_dir", str(where)), ("jax_persistent_cache_min_compile_time_secs", 0),
                          ("jax_persistent_cache_min_entry_size_bytes", 0)):
        with contextlib.suppress(AttributeError):   # an older jax without that option: its default holds
            jax.config.update(option, value)


def device(name: str):
    """The JAX device for --device (cpu, cuda); DeviceUnavailable when this jax has none."""
    try:
        return jax.devices({"cuda": "gpu"}.get(name, name))[0]
    except RuntimeError as err:
        raise DeviceUnavailable(f"--device {name}: jax {jax.__version__} has no such device (its devices: "
                                f"{', '.join(str(d) for d in jax.devices())})") from err


def start(name: str) -> None:
    """Make the JAX device for --device ``name`` the default, with layerconf's compilation cache on. On a GPU float32
    dots run in float32 (``jax_default_matmul_precision`` "highest"): JAX's default there is TF32 (10 mantissa bits;
    attention off by 1e-3 on an H200), which the torch adapter turns off too."""
    placed = device(name)
    use_compilation_cache()
    jax.config.update("jax_default_device", placed)
    if name == "cuda":
        jax.config.update("jax_default_matmul_precision", "highest")


def matmul_precision() -> str:
    """The float32 dot precision in force (environment()): None is the backend's default."""
    return str(jax.config.jax_default_matmul_precision)


def calls(jit: bool, compiled: dict):
    """How an adapter calls its layer functions: a flavour whose manifest sets ``options: {jit: true}`` calls their
    compiled versions (``compiled[f]``), the eager one the functions themselves."""
    return compiled.get if jit else lambda f: f
