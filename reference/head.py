"""A Dense(1) head under mean squared error, in float64 (h has shape (N, C), kernel (C, 1), bias (1,))."""
import numpy as np


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def dense(h, kernel, bias):
    """prediction = h kernel + bias."""
    return _f64(h) @ _f64(kernel) + _f64(bias)


def mse(prediction, target) -> float:
    """L = mean over every element of (prediction - target)^2."""
    return float(np.mean((_f64(prediction) - _f64(target)) ** 2))


def mse_gradient(prediction, target):
    """dL/dprediction = 2 (prediction - target) / number of elements."""
    p = _f64(prediction)
    return 2.0 * (p - _f64(target)) / p.size


def dense_backward(h, kernel, dprediction):
    """(dL/dh, dL/dkernel, dL/dbias) = (dp kernel^T, h^T dp, sum over the batch of dp)."""
    dp = _f64(dprediction)
    return dp @ _f64(kernel).T, _f64(h).T @ dp, dp.sum(axis=0)
