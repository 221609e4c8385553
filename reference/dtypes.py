"""Rounding to a framework's input dtype, so the reference sees exactly the input the framework sees."""
import ml_dtypes
import numpy as np

NUMPY = {"float64": np.float64, "float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def as_dtype(x, dtype: str) -> np.ndarray:
    """x rounded to nearest (ties to even) in ``dtype``, as an array of that dtype."""
    if dtype not in NUMPY:
        raise ValueError(f"dtype must be one of {sorted(NUMPY)}, got {dtype!r}")
    return np.asarray(x, dtype=np.float64).astype(NUMPY[dtype])


def quantize(x, dtype: str) -> np.ndarray:
    """x rounded to ``dtype`` and widened back to float64 (exactly)."""
    return as_dtype(x, dtype).astype(np.float64)


def parameter_dtype(dtype: str) -> str:
    """Parameters and statistics are held in float32 for half-precision inputs, else in the input dtype."""
    return "float64" if dtype == "float64" else "float32"
