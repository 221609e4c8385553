"""Step models: a layer's state, its forward pass in either mode, its gradients and its SGD step, in float64.

Each method is a formula of ``reference.batchnorm`` and ``reference.head`` applied to the state. The tests run
a model beside the framework's layer, the same calls in the same order, and compare state and outputs.
"""
from dataclasses import dataclass

import numpy as np

from layerconf.reference import batchnorm, head
from layerconf.reference.dtypes import as_dtype


def _copy(v):
    return None if v is None else np.array(v, dtype=np.float64)


@dataclass(frozen=True)
class Conventions:
    """What a framework's profile states that changes the arithmetic.

    running_var_correction: the variance fed to the running update, 'biased' or 'unbiased' (n / (n - 1)).
    arguments_dtype: the dtype a layer holds eps and decay in (None: as given).
    update_weight_dtype: the dtype a layer rounds the update weight 1 - decay to (None: not rounded).
    scalars_dtype: the dtype each scalar is rounded to where it meets the statistics (None: not rounded): eps, the
    weight decay on the old value and the weight 1 - decay on the batch, each on its own.
    training_statistics: what a training call normalises with, 'batch' (the batch moments) or 'updated_running'
    (the running statistics after the call's update, m = w mean_B + d rm, v = w var_B + d rv, w = 1 - d; on a
    fresh layer's first call the batch moments, which it stores: Equinox's mode='ema').
    """

    running_var_correction: str = "biased"
    arguments_dtype: str | None = None
    update_weight_dtype: str | None = None
    scalars_dtype: str | None = None
    training_statistics: str | None = "batch"

    def held(self, value):
        """eps or decay as the layer holds it: value rounded to arguments_dtype, or to scalars_dtype."""
        dtype = self.arguments_dtype or self.scalars_dtype
        return value if value is None or dtype is None else float(as_dtype(value, dtype))

    def batch_weight(self, decay):
        """The weight of the batch statistic: 1 - decay, rounded on its own to scalars_dtype (None: 1 - decay)."""
        return None if decay is None or self.scalars_dtype is None else float(as_dtype(1.0 - decay, self.scalars_dtype))

    def applied_decay(self, decay):
        """The decay a running update applies: held, then 1 - w with w = 1 - decay rounded to update_weight_dtype."""
        decay = self.held(decay)
        if decay is None or self.update_weight_dtype is None:
            return decay
        return 1.0 - float(as_dtype(1.0 - decay, self.update_weight_dtype))


class BatchNorm:
    """BatchNormalization: gamma, beta, running_mean, running_var (None: no running statistics), eps and decay
    as held under ``conventions`` (decay None: the cumulative average, counting batches_seen); ``fresh``: no
    training call yet (under training_statistics 'updated_running' the first stores the batch moments)."""

    def __init__(self, eps: float, decay, layout: str, conventions: Conventions = Conventions(), *,
                 gamma=1.0, beta=0.0, running_mean=0.0, running_var=1.0, fresh: bool = False):
        self.eps, self.decay = conventions.held(eps), conventions.applied_decay(decay)
        self.batch_weight = conventions.batch_weight(decay)
        self.layout, self.conventions, self.batches_seen = layout, conventions, 0
        self.fresh = fresh and conventions.training_statistics == "updated_running"
        self.gamma, self.beta = _copy(gamma), _copy(beta)
        self.running_mean, self.running_var = _copy(running_mean), _copy(running_var)

    def _moments(self, x, mask):
        """(mean, biased var, n) per channel over the batch, or over the entries the mask keeps."""
        if mask is None:
            return (*batchnorm.batch_moments(x, self.layout), batchnorm.count_per_channel(np.shape(x), self.layout))
        return (*batchnorm.masked_moments(x, mask, self.layout), int(np.sum(mask)))

    def _batch_statistics(self, training) -> bool:
        """Training normalizes with the batch moments; so does inference without running statistics."""
        return training or self.running_mean is None

    def _updated_running(self, training) -> bool:
        """Training normalizes with the updated running statistics (training_statistics 'updated_running')."""
        return (training and self.running_mean is not None
                and self.conventions.training_statistics == "updated_running")

    def _running_after(self, x, mask=None):
        """(mean, var) the running statistics hold after training on x: decay running + (1 - decay) batch
        (cumulative average if decay is None), var corrected; a fresh model's first call stores the batch."""
        decay, k = (None, 1) if self.fresh else (self.decay, self.batches_seen + 1)
        return batchnorm.update_statistics(self.running_mean, self.running_var, *self._moments(x, mask),
                                           self.conventions.running_var_correction, decay, k, self.batch_weight)

    def output(self, x, training, mask=None):
        """y = gamma (x - mean) / sqrt(var + eps) + beta: batch moments when training (the updated running
        statistics under 'updated_running'), else running; no update."""
        if self._updated_running(training):
            mean, var = self._running_after(x, mask)
            return batchnorm.normalize(x, mean, var, self.gamma, self.beta, self.eps, self.layout)
        if self._batch_statistics(training):
            mean, var, _ = self._moments(x, mask)
            return batchnorm.normalize(x, mean, var, self.gamma, self.beta, self.eps, self.layout)
        return batchnorm.inference_forward(x, self.running_mean, self.running_var, self.gamma, self.beta, self.eps, self.layout)

    def update(self, x, mask=None):
        """running <- _running_after(x)."""
        if self.running_mean is None:
            return
        self.running_mean, self.running_var = self._running_after(x, mask)
        self.batches_seen, self.fresh = self.batches_seen + 1, False

    def forward(self, x, training, mask=None):
        """y = output(x, training); training also updates the running statistics."""
        y = self.output(x, training, mask)
        if training:
            self.update(x, mask)
        return y

    def backward(self, x, dy, training):
        """(dx, dgamma, dbeta) of sum(dy * output(x, training)); the state is unchanged."""
        if self._updated_running(training):
            weight = 1.0 if self.fresh else self.batch_weight if self.batch_weight is not None else 1.0 - self.decay
            mean, var = self._running_after(x)
            return batchnorm.running_train_backward(x, mean, var, weight, self.gamma, self.eps, dy, self.layout)
        if self._batch_statistics(training):
            return batchnorm.train_backward(x, self.gamma, self.eps, dy, self.layout)
        return batchnorm.inference_backward(x, self.running_mean, self.running_var, self.gamma, self.eps, dy, self.layout)

    def sgd_step(self, x, dy, lr: float, training, trainable: bool = True):
        """backward at the state before the step, forward(x, training), then gamma -= lr dgamma, beta -= lr dbeta
        if trainable. Returns (y, dx)."""
        dx, dgamma, dbeta = self.backward(x, dy, training)
        y = self.forward(x, training)
        if trainable:
            self.gamma, self.beta = batchnorm.sgd_step(self.gamma, dgamma, lr), batchnorm.sgd_step(self.beta, dbeta, lr)
        return y, dx

    def state(self) -> dict:
        """Copies of gamma, beta, running_mean and running_var."""
        return {key: _copy(getattr(self, key)) for key in ("gamma", "beta", "running_mean", "running_var")}


class FlagModel:
    """x -> BatchNorm (layout NC) -> Dense(1) head: prediction = h kernel + bias, loss L = mse(prediction, t)."""

    def __init__(self, bn: BatchNorm, kernel, bias):
        self.bn, self.kernel, self.bias = bn, _copy(kernel), _copy(bias)

    def forward(self, x, training):
        """prediction = bn.forward(x, training) kernel + bias (the running update when training)."""
        return head.dense(self.bn.forward(x, training), self.kernel, self.bias)

    def loss(self, x, t, training) -> float:
        """L = mse(forward(x, training), t)."""
        return head.mse(self.forward(x, training), t)

    def sgd_step(self, x, t, lr: float, training, bn_trainable: bool = True) -> float:
        """One SGD step on L: kernel and bias always, the BatchNorm by its sgd_step. Returns L before the step."""
        h = self.bn.output(x, training)
        prediction = head.dense(h, self.kernel, self.bias)
        dh, dkernel, dbias = head.dense_backward(h, self.kernel, head.mse_gradient(prediction, t))
        self.bn.sgd_step(x, dh, lr, training, bn_trainable)
        self.kernel, self.bias = batchnorm.sgd_step(self.kernel, dkernel, lr), batchnorm.sgd_step(self.bias, dbias, lr)
        return head.mse(prediction, t)

    def state(self) -> dict:
        """The BatchNorm's state, kernel and bias (copies)."""
        return {**self.bn.state(), "kernel": _copy(self.kernel), "bias": _copy(self.bias)}
