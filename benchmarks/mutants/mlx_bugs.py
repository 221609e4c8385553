"""Bugs of MLX: each replaces ``__call__`` or ``_calc_stats`` of mlx.nn.BatchNorm, or ``__call__`` of mlx.nn.Dropout,
Dropout2d or Dropout3d (two are MLX's own history: the biased running variance before 0.32.1, the statistics kept
with their reduced axes before #409)."""
import contextlib

import mlx.core as mx
import mlx.nn as nn

from benchmarks.mutants.kit import attributes, hit, mutant

CALL, STATS = (nn.BatchNorm, "__call__"), (nn.BatchNorm, "_calc_stats")
DROPOUTS = [(cls, "__call__") for cls in (nn.Dropout, nn.Dropout2d, nn.Dropout3d)]


@contextlib.contextmanager
def _mode(module, training: bool):
    """One call in another mode."""
    was = module.training
    module.train(training)
    try:
        yield
    finally:
        module.train(was)


def _updates(bn) -> bool:
    return bn.training and bn.track_running_stats


@mutant("bn_momentum_reversed", CALL)
def _(call, self, x):
    if not hit(_updates(self) and self.momentum != 0.5):
        return call(self, x)
    with attributes(self, momentum=1 - self.momentum):
        return call(self, x)


@mutant("bn_running_var_biased", STATS)
def _(calc_stats, self, x, ddof=0):
    hit(ddof)
    return calc_stats(self, x)


@mutant("bn_stats_keepdims", STATS)
def _(calc_stats, self, x, ddof=0):
    hit()   # the running statistics take the kept shape, (1, ..., 1, C)
    axes = tuple(range(x.ndim - 1))
    return mx.mean(x, axis=axes, keepdims=True), mx.var(x, axis=axes, keepdims=True, ddof=ddof)


@mutant("bn_eps_outside_sqrt", STATS)
def _(calc_stats, self, x, ddof=0):
    mean, var = calc_stats(self, x, ddof)
    if not hit(not ddof):            # the running variance's statistic stays right
        return mean, var
    return mean, (mx.sqrt(var) + self.eps) ** 2 - self.eps   # rsqrt(var' + eps) = 1 / (sqrt(var) + eps)


@mutant("bn_statistics_not_stored", CALL)
def _(call, self, x):
    if not hit(_updates(self)):
        return call(self, x)
    with attributes(self, running_mean=self.running_mean, running_var=self.running_var):
        return call(self, x)   # the update lands in attributes that are put back after the call


@mutant("bn_eval_batch_stats", CALL)
def _(call, self, x):
    if not hit(not self.training and self.track_running_stats):
        return call(self, x)
    with attributes(self, track_running_stats=False):
        return call(self, x)


@mutant("bn_train_running_stats", CALL)
def _(call, self, x):
    if not hit(_updates(self)):
        return call(self, x)
    old = self.running_mean, self.running_var
    call(self, x)   # the update; the attributes are restored to its result after the next call
    with attributes(self, running_mean=old[0], running_var=old[1]), _mode(self, False):
        return call(self, x)


@mutant("bn_affine_ignored", CALL)
def _(call, self, x):
    if not hit("weight" in self):
        return call(self, x)
    with attributes(self, weight=mx.ones_like(self.weight), bias=mx.zeros_like(self.bias)):
        return call(self, x)


@mutant("bn_batch_size_one_accepted", CALL)
def _(call, self, x):
    if not hit(self.training and x.size == x.shape[-1]):
        return call(self, x)
    with attributes(self, track_running_stats=False), _mode(self, False):
        return call(self, x)


def _drops(layer) -> bool:
    return layer.training and layer._p_1 < 1


@mutant("do_unscaled", *DROPOUTS)
def _(call, self, x):
    return call(self, x) * self._p_1 if hit(_drops(self)) else call(self, x)


@mutant("do_rate_off", *DROPOUTS)
def _(call, self, x):
    if not hit(_drops(self)):
        return call(self, x)
    with attributes(self, _p_1=1 - 0.9 * (1 - self._p_1)):
        return call(self, x)


@mutant("do_eval_active", *DROPOUTS)
def _(call, self, x):
    if not hit(not self.training and self._p_1 != 1):
        return call(self, x)
    with _mode(self, True):
        return call(self, x)


@mutant("do_2d_elementwise", (nn.Dropout2d, "__call__"))
def _(call, self, x):
    return nn.Dropout.__call__(self, x) if hit(_drops(self)) else call(self, x)


@mutant("do_3d_two_axes", (nn.Dropout3d, "__call__"))
def _(call, self, x):
    if not hit(_drops(self)):
        return call(self, x)
    shape = list(x.shape)
    shape[-2] = shape[-3] = 1
    return (mx.random.bernoulli(p=self._p_1, shape=shape) * x) * (1 / self._p_1)


@mutant("do_grad_unscaled", *DROPOUTS)
def _(call, self, x):
    y = call(self, x)
    if not hit(_drops(self)):
        return y
    kept = x * (y != 0).astype(x.dtype)
    return mx.stop_gradient(y) + kept - mx.stop_gradient(kept)


@mutant("do_constant_key", *DROPOUTS)
def _(call, self, x):
    if hit(_drops(self)):
        mx.random.seed(0)
    return call(self, x)
