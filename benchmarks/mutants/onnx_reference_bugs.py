"""Bugs of ONNX's reference runtime: each replaces a module-level function of onnx/reference/ops (looked up at every
run) by a copy of onnx's code with one bug, or an operator class's ``_run``."""
import numpy as np
from onnx.reference.ops import op_batch_normalization as bn
from onnx.reference.ops import op_dropout as do

from benchmarks.mutants.kit import hit, mutant

_test_mode, _dropout = bn._batchnorm_test_mode, do._dropout
TRAINING, TEST, DROPOUT = (bn, "_batchnorm_training_mode"), (bn, "_batchnorm_test_mode"), (do, "_dropout")


def _training_mode(var_ddof=0, running_ddof=0, old_weight=lambda m: m, normalise_with="batch"):
    """onnx's _batchnorm_training_mode with the variance's ddof, the weight on the old running value and the
    statistics y is normalised with as parameters (a replacement: the original is ignored); onnx's own values are
    0, 0, m and 'batch'."""
    def training_mode(original, x, s, bias, mean, var, momentum=0.9, epsilon=1e-5):
        hit()
        axis = tuple(np.delete(np.arange(len(x.shape)), 1))
        saved_mean, saved_var = x.mean(axis=axis), x.var(axis=axis, ddof=var_ddof)
        running_var = x.var(axis=axis, ddof=running_ddof) if running_ddof != var_ddof else saved_var
        output_mean = mean * old_weight(momentum) + saved_mean * (1 - old_weight(momentum))
        output_var = var * old_weight(momentum) + running_var * (1 - old_weight(momentum))
        used = {"batch": (saved_mean, saved_var), "input": (mean, var), "updated": (output_mean, output_var)}
        y = _test_mode(x, s, bias, *used[normalise_with], epsilon=epsilon)
        return tuple(a.astype(x.dtype) for a in (y, saved_mean, saved_var, output_mean, output_var))
    return training_mode


mutant("bn_unbiased_variance", TRAINING)(_training_mode(var_ddof=1, running_ddof=1))
mutant("bn_running_var_unbiased", TRAINING)(_training_mode(running_ddof=1))
mutant("bn_momentum_reversed", TRAINING)(_training_mode(old_weight=lambda m: 1 - m))
mutant("bn_training_uses_running_stats", TRAINING)(_training_mode(normalise_with="input"))
mutant("bn_training_uses_updated_stats", TRAINING)(_training_mode(normalise_with="updated"))


@mutant("bn_eps_outside_sqrt", TEST)
def _(original, x, s, bias, mean, var, epsilon=1e-5):
    hit()
    shape = (-1,) + (1,) * (x.ndim - 2)
    s, bias, mean, var = (a.reshape(shape) for a in (s, bias, mean, var))
    return (s * (x - mean) / (np.sqrt(var) + epsilon) + bias).astype(x.dtype)


def dropping(bug):
    """_dropout with bug(X, ratio, seed, training, return_mask) in place of the original for a ratio above 0."""
    def dropout(original, X, drop_probability=0.5, seed=None, training_mode=False, return_mask=False):
        if not hit(drop_probability != 0):
            return original(X, drop_probability, seed, training_mode, return_mask)
        return bug(X, drop_probability, seed, training_mode, return_mask)
    return dropout


@mutant("do_unscaled", DROPOUT)
@dropping
def _(X, ratio, seed, training, return_mask):
    if not training:
        return _dropout(X, ratio, seed, training, return_mask)
    mask = np.random.RandomState(seed).uniform(0, 1.0, X.shape) >= ratio
    return (mask * X, mask) if return_mask else (mask * X,)


mutant("do_ratio_is_keep_probability", DROPOUT)(dropping(lambda X, r, seed, t, m: _dropout(X, 1 - r if t else r, seed, t, m)))
mutant("do_drops_in_inference", DROPOUT)(dropping(lambda X, r, seed, t, m: _dropout(X, r, seed, True, m)))


@mutant("do_mask_inverted", DROPOUT)
@dropping
def _(X, ratio, seed, training, return_mask):
    out = _dropout(X, ratio, seed, training, return_mask)
    return (out[0], ~out[1]) if return_mask else out


@mutant("bn_is_test_ignored", (bn.BatchNormalization_6, "_run"))
def _(original, self, x, scale, bias, mean, var, epsilon=None, is_test=None, momentum=None, spatial=None):
    hit(is_test)
    return original(self, x, scale, bias, mean, var, epsilon=epsilon, is_test=0, momentum=momentum, spatial=spatial)


@mutant("bn_training_by_outputs", (bn.BatchNormalization_14, "_run"))
def _(original, self, x, scale, bias, mean, var, epsilon=None, momentum=None, training_mode=None):
    if hit(training_mode and not all(self.onnx_node.output[1:3])):
        training_mode = 0
    return original(self, x, scale, bias, mean, var, epsilon=epsilon, momentum=momentum, training_mode=training_mode)


@mutant("do_legacy_trains", (do.Dropout_7, "_run"))
def _(original, self, X, ratio=None):
    hit()
    return do._dropout(X, ratio, None, True, self.n_outputs == 2)


@mutant("do_absent_training_mode_true", (do.Dropout_12, "_run"))
def _(original, self, *inputs, seed=None):
    if hit(len(inputs) <= 2):
        inputs = (*inputs, np.array(True))
    return original(self, *inputs, seed=seed)


@mutant("do_ratio_as_seed", (do.Dropout_12, "_run"))
def _(original, self, *inputs, seed=None):
    if hit(len(inputs) > 1 and inputs[1] is not None):
        return self._private_run(inputs[0], inputs[1])
    return original(self, *inputs, seed=seed)
