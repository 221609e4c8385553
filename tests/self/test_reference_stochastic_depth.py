"""reference.stochastic_depth: mask shapes, outputs in both modes and for the edge rates, the gradient."""
import numpy as np
import pytest

from layerconf.reference import stochastic_depth as sd


def test_mask_shapes():
    assert sd.mask_shape((4, 3, 2), "row") == (4, 1, 1)
    assert sd.mask_shape((4, 3, 2), "batch") == (1, 1, 1)
    with pytest.raises(ValueError, match="elementwise"):
        sd.mask_shape((4, 3), "elementwise")


def test_output_by_hand():
    x = np.array([[1.0, -2.0], [3.0, 4.0]])
    np.testing.assert_allclose(sd.output(x, np.array([[1], [0]]), 0.2), [[1.25, -2.5], [0.0, 0.0]], rtol=1e-15)
    np.testing.assert_allclose(sd.output(x, np.array([[1]]), 0.5), [[2.0, -4.0], [6.0, 8.0]], rtol=1e-15)
    np.testing.assert_array_equal(sd.output(x, np.array([[0]]), 0.5, training=False), x)
    np.testing.assert_array_equal(sd.output(x, np.array([[1], [1]]), 0.0), x)       # rate 0: identity
    np.testing.assert_array_equal(sd.output(x, np.array([[0], [0]]), 1.0), np.zeros_like(x))   # rate 1: zeros


def test_gradient_by_finite_differences():
    x, dy, keep = np.array([[0.3, -1.2], [2.0, 0.7]]), np.array([[1.5, -0.5], [2.0, 1.0]]), np.array([[0], [1]])
    h = 1e-6
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        numeric[i] = (np.sum(dy * sd.output(x + e, keep, 0.3)) - np.sum(dy * sd.output(x - e, keep, 0.3))) / (2 * h)
    np.testing.assert_allclose(sd.gradient(dy, keep, 0.3), numeric, rtol=1e-8)


def test_row_keep_reads_rows_and_tells_partial_ones():
    kept, whole = sd.row_keep(np.array([[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]]))
    assert kept.tolist() == [True, False, True] and not whole
    assert sd.row_keep(np.array([[1.0, 2.0], [0.0, 0.0]]))[1]
