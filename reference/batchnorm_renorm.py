"""Keras BatchNormalization variants, in float64: batch renormalization (Ioffe 2017, arXiv:1702.03275) as Keras
implements it, and ghost (virtual) batch normalization (tf_keras ``virtual_batch_size``).

Renorm, in training, with the batch moments mean_B, var_B (biased) and s_B = sqrt(var_B + eps):
  r = clip(s_B / S, rmin, rmax),  d = clip((mean_B - M) / S, -dmax, dmax),  S = max(renorm_stddev, sqrt(eps)),
  M = renorm_mean (both before the call's update); r and d are constants for the gradient (stop_gradient);
  y = gamma (r (x - mean_B) / s_B + d) + beta;
  renorm_mean <- a M' + (1 - a) mean_B,  renorm_stddev <- a S' + (1 - a) s_B  (a = renorm_momentum, S' unclamped);
  moving_mean <- m moving_mean + (1 - m) mean_B,  moving_stddev <- m moving_stddev + (1 - m) s_B  (m = momentum);
  moving_variance <- max(moving_stddev^2 - eps, 0)  (assigned, not averaged).
Inference: y = gamma (x - moving_mean) / sqrt(moving_variance + eps) + beta (r = 1, d = 0).
"""
from dataclasses import dataclass, field

import numpy as np

from layerconf.reference import batchnorm

RENORM_STATE = ("gamma", "beta", "running_mean", "running_var", "moving_stddev", "renorm_mean", "renorm_stddev")


def corrections(mean_b, var_b, renorm_mean, renorm_stddev, eps: float, rmin=None, rmax=None, dmax=None):
    """(r, d) = (clip(s_B / S, rmin, rmax), clip((mean_B - M) / S, -dmax, dmax)), S = max(renorm_stddev, sqrt(eps)),
    s_B = sqrt(var_B + eps); a missing bound does not clip."""
    s = np.maximum(np.asarray(renorm_stddev, dtype=np.float64), np.sqrt(eps))
    r = np.sqrt(np.asarray(var_b, dtype=np.float64) + eps) / s
    d = (np.asarray(mean_b, dtype=np.float64) - renorm_mean) / s
    r = np.clip(r, -np.inf if rmin is None else rmin, np.inf if rmax is None else rmax)
    d = d if dmax is None else np.clip(d, -dmax, dmax)
    return r, d


@dataclass
class Renorm:
    """A Keras BatchNormalization(renorm=True) layer's state and its calls (module docstring). ``clipping``:
    renorm_clipping, a mapping of rmin, rmax, dmax. State keys: RENORM_STATE (running_* are moving_mean/variance)."""

    eps: float
    decay: float
    renorm_decay: float
    layout: str
    clipping: dict = field(default_factory=dict)
    gamma: np.ndarray = 1.0
    beta: np.ndarray = 0.0
    running_mean: np.ndarray = 0.0
    running_var: np.ndarray = 1.0
    moving_stddev: np.ndarray = 1.0
    renorm_mean: np.ndarray = 0.0
    renorm_stddev: np.ndarray = 1.0

    def state(self) -> dict:
        return {k: np.asarray(getattr(self, k), dtype=np.float64) for k in RENORM_STATE}

    def corrections(self, x):
        """(r, d) of a training call on x, from the renorm statistics before it."""
        mean, var = batchnorm.batch_moments(x, self.layout)
        return corrections(mean, var, self.renorm_mean, self.renorm_stddev, self.eps, **self.clipping)

    def forward(self, x, training: bool):
        """The output of one call; a training call also updates the state."""
        if not training:
            return batchnorm.inference_forward(x, self.running_mean, self.running_var, self.gamma, self.beta,
                                               self.eps, self.layout)
        mean, var = batchnorm.batch_moments(x, self.layout)
        r, d = self.corrections(x)
        y = batchnorm.normalize(x, mean, var, np.asarray(self.gamma) * r, np.asarray(self.gamma) * d + self.beta,
                                self.eps, self.layout)
        s = np.sqrt(var + self.eps)
        a, m = self.renorm_decay, self.decay
        self.renorm_mean = a * np.asarray(self.renorm_mean) + (1 - a) * mean
        self.renorm_stddev = a * np.asarray(self.renorm_stddev) + (1 - a) * s
        self.running_mean = m * np.asarray(self.running_mean) + (1 - m) * mean
        self.moving_stddev = m * np.asarray(self.moving_stddev) + (1 - m) * s
        self.running_var = np.maximum(self.moving_stddev**2 - self.eps, 0.0)
        return y

    def gradients(self, x, dy):
        """(dx, dgamma, dbeta) of sum(dy * y) for a training call, r and d constants: the batch-statistics
        backward with scale gamma r; dgamma = sum dy (r xhat + d); dbeta = sum dy."""
        r, d = self.corrections(x)
        gamma = np.broadcast_to(np.asarray(self.gamma, dtype=np.float64), np.shape(r))
        dx, dxhat_sum, dbeta = batchnorm.train_backward(x, gamma * r, self.eps, dy, self.layout)
        return dx, r * dxhat_sum + d * dbeta, dbeta


def ghost_groups(n: int, size: int, grouping: str) -> list[np.ndarray]:
    """The samples of each virtual batch of ``size`` in a batch of n (size divides n), G = n / size of them:
    'contiguous': batch j holds j size, ..., (j + 1) size - 1; 'strided': batch j holds j, j + G, j + 2G, ...
    (tf_keras reshapes (n, ...) to (size, G, ...) and reduces over the first axis)."""
    g = n // size
    if grouping == "contiguous":
        return [np.arange(j * size, (j + 1) * size) for j in range(g)]
    if grouping == "strided":
        return [j + g * np.arange(size) for j in range(g)]
    raise ValueError(f"grouping must be 'contiguous' or 'strided', got {grouping!r}")


def ghost_train_forward(x, gamma, beta, eps: float, layout: str, size: int, grouping: str):
    """Ghost batch normalization: each virtual batch (``ghost_groups``) normalised with its own biased moments,
    y_i = gamma (x_i - mean_g) / sqrt(var_g + eps) + beta. Returns (y, mean over groups of mean_g, mean over
    groups of var_g): the values tf_keras feeds to the moving averages."""
    x = np.asarray(x, dtype=np.float64)
    y = np.empty_like(x)
    means, variances = [], []
    for group in ghost_groups(x.shape[0], size, grouping):
        y[group], mean, var = batchnorm.train_forward(x[group], gamma, beta, eps, layout)
        means.append(mean)
        variances.append(var)
    return y, np.mean(means, axis=0), np.mean(variances, axis=0)

