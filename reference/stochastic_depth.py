"""Stochastic depth (torchvision.ops.stochastic_depth), in float64: inverted dropout of whole rows or of the
whole input (Huang et al. 2016, https://arxiv.org/abs/1603.09382).

Training: y = x * m / (1 - p), m ~ Bernoulli(1 - p) drawn once per row along axis 0 (mode row: m has shape
(N, 1, ..., 1)) or once per call (mode batch: shape (1, ..., 1)); p = 1 gives zeros. Inference: y = x.
dL/dx = dy * m / (1 - p) in training.
"""
import numpy as np

from layerconf.reference import dropout


def mask_shape(shape, mode: str) -> tuple[int, ...]:
    """The shape of the keep mask: (N, 1, ..., 1) for mode row, (1, ..., 1) for mode batch."""
    if mode not in ("row", "batch"):
        raise ValueError(f"mode must be row or batch, got {mode!r}")
    return (shape[0] if mode == "row" else 1,) + (1,) * (len(shape) - 1)


def output(x, keep, rate: float, training: bool = True):
    """y = x * keep / (1 - rate) in training (keep broadcast from ``mask_shape``; rate 1: zeros); y = x in inference."""
    return dropout.output(x, keep, rate) if training else np.asarray(x, dtype=np.float64)


def gradient(dy, keep, rate: float):
    """dL/dx = dy * keep / (1 - rate) (training)."""
    return dropout.output(dy, keep, rate)


def row_keep(y) -> tuple[np.ndarray, bool]:
    """The keep flag of each row of y (a row is kept where any element is non-zero), and whether every row
    is wholly kept or wholly zeroed (inputs with no zero element)."""
    nonzero = np.asarray(y).astype(np.float64).reshape(len(y), -1) != 0
    return nonzero.any(axis=1), bool(np.all(nonzero.all(axis=1) | ~nonzero.any(axis=1)))
