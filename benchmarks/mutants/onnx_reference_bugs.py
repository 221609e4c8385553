"""Semantic bugs injected into ONNX's reference runtime (see benchmarks/mutants/__init__.py).

Each mutant replaces a module-level function of onnx/reference/ops (``_batchnorm_test_mode`` and
``_batchnorm_training_mode`` of op_batch_normalization, ``_dropout`` of op_dropout), which the operator
classes look up at every run, with a copy of onnx's code carrying one realistic bug: the runtime still
runs, and is wrong in one behaviour.
"""
import numpy as np
from onnx.reference.ops import op_batch_normalization as bn
from onnx.reference.ops import op_dropout as do

from benchmarks.mutants import hit, mutant

_test_mode, _dropout = bn._batchnorm_test_mode, do._dropout


def _training_mode(var_ddof=0, running_ddof=0, old_weight=lambda m: m, normalise_with="batch"):
    """onnx's _batchnorm_training_mode with the variance's ddof, the weight on the old running value and
    the statistics y is normalised with as parameters; onnx's own values are 0, 0, m and 'batch'."""
    def training_mode(x, s, bias, mean, var, momentum=0.9, epsilon=1e-5):
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


def _install_training(**bug):
    bn._batchnorm_training_mode = _training_mode(**bug)


# ---------------------------------------------------------------- BatchNormalization

@mutant("bn_unbiased_variance", "training normalises with the unbiased variance (x.var(ddof=1))")
def _():
    _install_training(var_ddof=1, running_ddof=1)


@mutant("bn_running_var_unbiased", "the running variance moves toward the unbiased batch variance; the output stays biased")
def _():
    _install_training(running_ddof=1)


@mutant("bn_momentum_reversed", "momentum weighs the batch statistic (PyTorch's meaning) instead of the running one")
def _():
    _install_training(old_weight=lambda m: 1 - m)


@mutant("bn_training_uses_running_stats", "training normalises with input_mean and input_var instead of the batch statistics")
def _():
    _install_training(normalise_with="input")


@mutant("bn_training_uses_updated_stats", "training normalises with the updated running statistics (opset 9's BatchNormalization)")
def _():
    _install_training(normalise_with="updated")


@mutant("bn_eps_outside_sqrt", "inference divides by sqrt(var) + epsilon instead of sqrt(var + epsilon)")
def _():
    def test_mode(x, s, bias, mean, var, epsilon=1e-5):
        hit()
        shape = (-1,) + (1,) * (x.ndim - 2)
        s, bias, mean, var = (a.reshape(shape) for a in (s, bias, mean, var))
        return (s * (x - mean) / (np.sqrt(var) + epsilon) + bias).astype(x.dtype)
    bn._batchnorm_test_mode = test_mode


# ---------------------------------------------------------------- Dropout

def _install_dropout(bug):
    def dropout(X, drop_probability=0.5, seed=None, training_mode=False, return_mask=False):
        if drop_probability == 0:
            return _dropout(X, drop_probability, seed, training_mode, return_mask)
        hit()
        return bug(X, drop_probability, seed, training_mode, return_mask)
    do._dropout = dropout


def _mask(X, ratio, seed):
    return np.random.RandomState(seed).uniform(0, 1.0, X.shape) >= ratio


@mutant("do_unscaled", "training keeps x where the mask is true, without the 1 / (1 - ratio) scale")
def _():
    def bug(X, ratio, seed, training, return_mask):
        if not training:
            return _dropout(X, ratio, seed, training, return_mask)
        mask = _mask(X, ratio, seed)
        return (mask * X, mask) if return_mask else (mask * X,)
    _install_dropout(bug)


@mutant("do_ratio_is_keep_probability", "the mask keeps an element with probability ratio (TensorFlow 1's keep_prob reading)")
def _():
    def bug(X, ratio, seed, training, return_mask):
        return _dropout(X, 1 - ratio, seed, training, return_mask) if training else _dropout(X, ratio, seed, training, return_mask)
    _install_dropout(bug)


@mutant("do_mask_inverted", "the mask output marks the dropped elements")
def _():
    def bug(X, ratio, seed, training, return_mask):
        out = _dropout(X, ratio, seed, training, return_mask)
        return (out[0], ~out[1]) if return_mask else out
    _install_dropout(bug)


@mutant("do_drops_in_inference", "training_mode is ignored: Dropout drops in inference too")
def _():
    def bug(X, ratio, seed, training, return_mask):
        return _dropout(X, ratio, seed, True, return_mask)
    _install_dropout(bug)


# ---------------------------------------------------------------- operator versions and graph forms

def _patch_run(cls, bug):
    """Replace ``cls._run`` (the evaluator calls it at every run) with bug(original, self, *args, **kwargs)."""
    original = cls._run

    def run(self, *args, **kwargs):
        return bug(original, self, *args, **kwargs)
    cls._run = run


@mutant("bn_is_test_ignored", "BatchNormalization_6 ignores is_test and always trains (as it does at opset 7, where the attribute is gone)")
def _():
    def bug(original, self, x, scale, bias, mean, var, epsilon=None, is_test=None, momentum=None, spatial=None):
        if is_test:
            hit()
        return original(self, x, scale, bias, mean, var, epsilon=epsilon, is_test=0, momentum=momentum, spatial=spatial)
    _patch_run(bn.BatchNormalization_6, bug)


@mutant("bn_training_by_outputs", "BatchNormalization_14 trains only when its running outputs are present (ONNX Runtime's rule: the output "
         "count), so absent outputs give inference")
def _():
    def bug(original, self, x, scale, bias, mean, var, epsilon=None, momentum=None, training_mode=None):
        if training_mode and not all(self.onnx_node.output[1:3]):
            hit()
            training_mode = 0
        return original(self, x, scale, bias, mean, var, epsilon=epsilon, momentum=momentum, training_mode=training_mode)
    _patch_run(bn.BatchNormalization_14, bug)


@mutant("do_legacy_trains", "Dropout_7 (opsets 7 and 10, no mode input) drops at its ratio attribute, as in training")
def _():
    def bug(original, self, X, ratio=None):
        hit()
        return do._dropout(X, ratio, None, True, self.n_outputs == 2)
    _patch_run(do.Dropout_7, bug)


@mutant("do_absent_training_mode_true", "Dropout_12 takes an absent training_mode input as true: a graph without it drops")
def _():
    def bug(original, self, *inputs, seed=None):
        if len(inputs) <= 2:
            hit()
            inputs = (*inputs, np.array(True))
        return original(self, *inputs, seed=seed)
    _patch_run(do.Dropout_12, bug)


@mutant("do_ratio_as_seed", "Dropout_12 passes the ratio positionally into the seed's place (Dropout_7's call): the default 0.5, "
         "and no training")
def _():
    def bug(original, self, *inputs, seed=None):
        if len(inputs) > 1 and inputs[1] is not None:
            hit()
            return self._private_run(inputs[0], inputs[1])
        return original(self, *inputs, seed=seed)
    _patch_run(do.Dropout_12, bug)
