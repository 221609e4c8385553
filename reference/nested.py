"""A nested model as a step model, in float64 (issue 24): layers inside models.

    x (N, C) -> base: BatchNorm over C (layout NC) -> Dropout(rate) -> head: Dense(1) -> prediction;  L = mse.

The framework's model holds the BatchNorm and the Dropout two levels deep (model.base.<container>.<entry>); the
reference states what the whole model must do. The base and the head each have a mode; the mode of the base
decides the BatchNorm (batch or running statistics, and the running update) and the Dropout (a keep mask scaled
by 1 / (1 - rate), or the identity). The head (a Dense layer) has no mode of its own. Under the convention
"frozen means inference" (Keras: trainable=False runs BatchNormalization in inference mode) a frozen base's
BatchNorm runs in inference whatever the base's mode, while its Dropout, which has no weights, follows the mode.

A Dropout mask is a draw of the framework's; a test reads it from the framework's features (a zero is a drop:
the BatchNorm's output has no zero element but by a chance of measure zero) and hands it to the reference.
"""
import numpy as np

from layerconf.reference import batchnorm, dropout, head
from layerconf.reference.models import BatchNorm


def _copy(v):
    return None if v is None else np.array(v, dtype=np.float64)


def keep_mask(features) -> np.ndarray:
    """The Dropout's keep mask read from the base's output: True where the feature is not zero."""
    return np.asarray(features, dtype=np.float64) != 0


class NestedModel:
    """bn (reference.models.BatchNorm, layout NC), the Dropout's ``rate``, the head's kernel (C, 1) and bias (1,);
    ``base_training``: the base's mode (True: training); ``base_frozen``: the base is frozen the framework's way;
    ``frozen_means_inference``: the convention that a frozen BatchNorm runs in inference mode."""

    def __init__(self, bn: BatchNorm, rate: float, kernel, bias, base_training: bool = True, base_frozen: bool = False,
                 frozen_means_inference: bool = False):
        self.bn, self.rate, self.base_training = bn, float(rate), base_training
        self.base_frozen, self.frozen_means_inference = base_frozen, frozen_means_inference
        self.kernel, self.bias = _copy(kernel), _copy(bias)

    @property
    def bn_training(self) -> bool:
        """The BatchNorm's mode: the base's, but inference for a frozen base where frozen means inference."""
        return self.base_training and not (self.base_frozen and self.frozen_means_inference)

    def _drop(self, h, keep):
        """Dropout in the base's mode: h keep / (1 - rate) in training (keep: all ones if None), h in inference."""
        if not self.base_training or self.rate == 0.0:
            return np.asarray(h, dtype=np.float64)
        keep = np.ones(np.shape(h), dtype=bool) if keep is None else keep
        return dropout.output(h, keep, self.rate)

    def features(self, x, keep=None):
        """The base's output: dropout(bn.output(x, bn_training)) in the base's mode; the state is unchanged."""
        return self._drop(self.bn.output(x, self.bn_training), keep)

    def forward(self, x, keep=None):
        """(features, prediction = features kernel + bias); a training BatchNorm's running update."""
        h = self.features(x, keep)
        if self.bn_training:
            self.bn.update(x)
        return h, head.dense(h, self.kernel, self.bias)

    def sgd_step(self, x, t, lr: float, keep=None, base_trainable: bool = True, head_trainable: bool = True) -> float:
        """One SGD step on L = mse(prediction, t), gradients at the state before the step: the head's kernel and
        bias if head_trainable, the BatchNorm's gamma and beta if base_trainable (through the Dropout's mask and
        scale); the running update if the BatchNorm is training. Returns L before the step."""
        h = self.features(x, keep)
        prediction = head.dense(h, self.kernel, self.bias)
        dh, dkernel, dbias = head.dense_backward(h, self.kernel, head.mse_gradient(prediction, t))
        if self.base_training and self.rate > 0.0:
            keep = np.ones(np.shape(h), dtype=bool) if keep is None else keep
            dh = dh * keep / (1.0 - self.rate)
        self.bn.sgd_step(x, dh, lr, self.bn_training, base_trainable)
        if head_trainable:
            self.kernel, self.bias = batchnorm.sgd_step(self.kernel, dkernel, lr), batchnorm.sgd_step(self.bias, dbias, lr)
        return head.mse(prediction, t)

    def state(self) -> dict:
        """Copies of the BatchNorm's gamma, beta, running_mean, running_var and the head's kernel and bias."""
        return {**self.bn.state(), "kernel": _copy(self.kernel), "bias": _copy(self.bias)}

