"""Elementwise comparison against the reference under the dtype's tolerance (specs/tolerances.yaml).

pass when |actual - expected| <= atol + rtol |expected| everywhere; margin = max |actual - expected| /
(atol + rtol |expected|), so a margin below 1 passes and the margin says how close a pass came.
"""
from dataclasses import dataclass

import numpy as np

from layerconf import specs


@dataclass(frozen=True)
class Comparison:
    quantity: str
    dtype: str
    rtol: float
    atol: float
    worst_error: float
    margin: float
    worst_index: tuple
    expected_at_worst: float
    actual_at_worst: float
    shape_ok: bool
    expected_shape: tuple
    actual_shape: tuple

    @property
    def passed(self) -> bool:
        return self.shape_ok and self.margin <= 1.0

    def describe(self) -> str:
        if not self.shape_ok:
            return f"{self.quantity}: shape {self.actual_shape}, expected {self.expected_shape}"
        return (
            f"{self.quantity} ({self.dtype}): worst error {self.worst_error:.3e} at index {self.worst_index}: "
            f"expected {self.expected_at_worst:.9g}, actual {self.actual_at_worst:.9g}; "
            f"tolerance atol {self.atol:g} + rtol {self.rtol:g} |expected|; margin {self.margin:.3g}"
        )


def dtype_name(array) -> str:
    """'float32', 'bfloat16' (ml_dtypes), ...; anything else compares as float64."""
    name = np.asarray(array).dtype.name
    return name if name in specs.tolerances() else "float64"


def errors(actual, expected) -> np.ndarray:
    """|actual - expected| elementwise: 0 where equal (equal infinities, NaN where NaN), inf for NaN where a
    number is due. The arrays must have the same shape."""
    a, e = np.asarray(actual).astype(np.float64), np.asarray(expected, dtype=np.float64)
    same = (a == e) | (np.isnan(a) & np.isnan(e))
    err = np.where(same, 0.0, np.abs(a - e))
    return np.where(np.isnan(err), np.inf, err)


def margins(actual, expected) -> dict[str, float]:
    """dtype -> max error / (atol + rtol |expected|) under that dtype's tolerance (inf on a shape mismatch)."""
    if np.shape(actual) != np.shape(expected):
        return {dtype: np.inf for dtype in specs.tolerances()}
    err, e = errors(actual, expected), np.abs(np.nan_to_num(np.asarray(expected, dtype=np.float64)))
    return {dtype: float(np.max(err / (tol["atol"] + tol["rtol"] * e), initial=0.0))
            for dtype, tol in specs.tolerances().items()}


def compare(quantity: str, actual, expected, dtype: str | None = None) -> Comparison:
    """Compare ``actual`` (a framework's array) with ``expected`` (the float64 reference).

    The tolerance is that of ``dtype``, by default the dtype of ``actual``. NaN in actual where
    expected is not NaN counts as an infinite error; NaN where NaN and equal infinities are exact.
    """
    dtype = dtype or dtype_name(actual)
    tol = specs.tolerances()[dtype]
    a = np.asarray(actual).astype(np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return Comparison(quantity, dtype, tol["rtol"], tol["atol"], np.inf, np.inf, (), np.nan, np.nan,
                          False, e.shape, a.shape)
    err = errors(a, e)
    ratio = err / (tol["atol"] + tol["rtol"] * np.abs(np.nan_to_num(e)))
    flat = int(np.argmax(ratio)) if ratio.size else 0
    idx = np.unravel_index(flat, ratio.shape) if ratio.size else ()
    pick = lambda arr: float(arr[idx]) if arr.size else np.nan  # noqa: E731
    return Comparison(quantity, dtype, tol["rtol"], tol["atol"], pick(err), pick(ratio),
                      tuple(int(i) for i in idx), pick(e), pick(a), True, e.shape, a.shape)
