"""InstanceNorm with optional running statistics, in float64 (torch.nn.InstanceNorm1d/2d/3d semantics).

Notation: x has a batch axis N, a channel axis C (see ``reference.layout``) and spatial axes of total size s.
Each instance (n, c) is normalised with its own statistics over the spatial axes:
    mu_nc = (1/s) sum x_nc ;  var_nc = (1/s) sum (x_nc - mu_nc)^2 (biased)
    y_nc = gamma_c (x_nc - mu_nc) / sqrt(var_nc + eps) + beta_c
With running statistics (track_running_stats), a training call also updates, per channel,
    running_mean <- decay running_mean + (1 - decay) (1/N) sum_n mu_nc
    running_var  <- decay running_var  + (1 - decay) (1/N) sum_n var_nc s / (s - 1)   (unbiased, averaged over N)
and inference normalises with the running statistics like BatchNorm's inference.
"""
import numpy as np

from layerconf.reference import batchnorm
from layerconf.reference.layout import channel_axis


def instances(x, layout: str):
    """x as (1, N*C, s) in layout 'NCL': each instance (n, c) a channel of its own (row n*C + c)."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), channel_axis(layout), 1)
    return x.reshape(1, x.shape[0] * x.shape[1], -1)


def instance_moments(x, layout: str):
    """(mu, var), each of shape (N, C): every instance's mean and biased variance over its s spatial entries."""
    mean, var = batchnorm.batch_moments(instances(x, layout), "NCL")
    n = np.shape(x)[0]
    return mean.reshape(n, -1), var.reshape(n, -1)


def spatial_size(x, layout: str) -> int:
    """s: the number of entries of one instance."""
    return int(np.size(x) // (np.shape(x)[0] * np.shape(x)[channel_axis(layout)]))


def _restore(flat, x, layout: str):
    """An array of instances(x)'s shape back in x's shape and layout."""
    moved = np.moveaxis(np.asarray(x), channel_axis(layout), 1).shape
    return np.moveaxis(np.asarray(flat).reshape(moved), 1, channel_axis(layout))


def train_forward(x, gamma, beta, eps: float, layout: str):
    """y_nc = gamma_c (x_nc - mu_nc) / sqrt(var_nc + eps) + beta_c, instance statistics (biased variance)."""
    n = np.shape(x)[0]
    y, _, _ = batchnorm.train_forward(instances(x, layout), np.tile(gamma, n), np.tile(beta, n), eps, "NCL")
    return _restore(y, x, layout)


def inference_forward(x, running_mean, running_var, gamma, beta, eps: float, layout: str):
    """y = gamma (x - running_mean) / sqrt(running_var + eps) + beta, per channel (BatchNorm's inference)."""
    return batchnorm.inference_forward(x, running_mean, running_var, gamma, beta, eps, layout)


def batch_statistics(x, layout: str):
    """The per-channel statistics a training call folds into the running ones: the instance means and the
    unbiased instance variances var_nc s / (s - 1), each averaged over the N instances of the channel."""
    mean, var = instance_moments(x, layout)
    return mean.mean(axis=0), batchnorm.corrected_variance(var, spatial_size(x, layout), "unbiased").mean(axis=0)


def update(running_mean, running_var, x, decay: float, layout: str):
    """Running (mean, var) after one training call: decay * old + (1 - decay) * batch_statistics(x)."""
    mean, var = batch_statistics(x, layout)
    return batchnorm.update_running(running_mean, mean, decay), batchnorm.update_running(running_var, var, decay)


def train_backward(x, gamma, eps: float, dy, layout: str):
    """dL/dx of L = sum(dy * y) for the training output, the instance statistics differentiated:
    dx_nc = gamma_c / sqrt(var_nc + eps) (dy_nc - mean(dy_nc) - xhat_nc mean(dy_nc xhat_nc)), means over s."""
    n = np.shape(x)[0]
    dx, _, _ = batchnorm.train_backward(instances(x, layout), np.tile(gamma, n), eps, instances(dy, layout), "NCL")
    return _restore(dx, x, layout)


def inference_backward(x, running_mean, running_var, gamma, eps: float, dy, layout: str):
    """dL/dx = gamma dy / sqrt(running_var + eps) in inference with running statistics."""
    return batchnorm.inference_backward(x, running_mean, running_var, gamma, eps, dy, layout)[0]


class InstanceNorm:
    """Step model of one InstanceNorm layer: gamma, beta (1, 0 without affine), eps, decay, and running statistics
    (None without them: every call then normalises with the instance statistics and nothing is updated)."""

    def __init__(self, eps: float, decay: float, layout: str, gamma, beta, running_mean=None, running_var=None):
        self.eps, self.decay, self.layout = eps, decay, layout
        self.gamma, self.beta = np.asarray(gamma, dtype=np.float64), np.asarray(beta, dtype=np.float64)
        self.running_mean, self.running_var = running_mean, running_var

    @property
    def tracks(self) -> bool:
        return self.running_mean is not None

    def forward(self, x, training: bool):
        """Training, or no running statistics: instance statistics (and the update when tracking); else running."""
        if training or not self.tracks:
            if training and self.tracks:
                self.running_mean, self.running_var = update(self.running_mean, self.running_var, x, self.decay,
                                                             self.layout)
            return train_forward(x, self.gamma, self.beta, self.eps, self.layout)
        return inference_forward(x, self.running_mean, self.running_var, self.gamma, self.beta, self.eps, self.layout)

    def backward(self, x, dy, training: bool):
        """dL/dx of forward(x, training) (state untouched)."""
        if training or not self.tracks:
            return train_backward(x, self.gamma, self.eps, dy, self.layout)
        return inference_backward(x, self.running_mean, self.running_var, self.gamma, self.eps, dy, self.layout)
