"""Semantic bugs injected into MLX (see benchmarks/mutants/__init__.py for the machinery).

Each mutant replaces ``__call__`` or ``_calc_stats`` of mlx.nn.BatchNorm, or ``__call__`` of mlx.nn.Dropout,
Dropout2d or Dropout3d, with a copy carrying one realistic bug (two are MLX's own history: the biased running
variance before 0.32.1, the statistics kept with their reduced axes before #409). The layer still runs, returns
the right shape and dtype, and is wrong in one behaviour only.
"""
import contextlib
import functools

import mlx.core as mx
import mlx.nn as nn

from benchmarks.mutants import hit, mutant


def _patch(cls, name, make):
    """Replace cls.<name> by make(original)."""
    original = getattr(cls, name)
    setattr(cls, name, functools.wraps(original)(make(original)))


@contextlib.contextmanager
def _attributes(module, **values):
    """Set a module's attributes for the duration of one call."""
    old = {k: getattr(module, k) for k in values}
    for k, v in values.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(module, k, v)


@contextlib.contextmanager
def _mode(module, training: bool):
    """Run one call in another mode."""
    was = module.training
    module.train(training)
    try:
        yield
    finally:
        module.train(was)


def _updates(bn) -> bool:
    return bn.training and bn.track_running_stats


# ---------------------------------------------------------------- BatchNorm

@mutant("bn_momentum_reversed", "running update weighs the batch by 1 - momentum (Keras meaning in a PyTorch-style layer)")
def _():
    def make(call):
        def patched(self, x):
            if not _updates(self) or self.momentum == 0.5:
                return call(self, x)
            hit()
            with _attributes(self, momentum=1 - self.momentum):
                return call(self, x)
        return patched
    _patch(nn.BatchNorm, "__call__", make)


@mutant("bn_running_var_biased", "running variance fed the biased batch variance (ddof ignored: MLX before 0.32.1)")
def _():
    def make(calc_stats):
        def patched(self, x, ddof=0):
            if ddof:
                hit()
            return calc_stats(self, x)
        return patched
    _patch(nn.BatchNorm, "_calc_stats", make)


@mutant("bn_stats_keepdims", "batch statistics keep their reduced axes (mx.mean(..., keepdims=True): MLX before #409)")
def _():
    def make(calc_stats):
        def patched(self, x, ddof=0):
            hit()   # the running statistics take the kept shape, (1, ..., 1, C)
            axes = tuple(range(x.ndim - 1))
            return mx.mean(x, axis=axes, keepdims=True), mx.var(x, axis=axes, keepdims=True, ddof=ddof)
        return patched
    _patch(nn.BatchNorm, "_calc_stats", make)


@mutant("bn_eps_outside_sqrt", "y = (x - mean) / (sqrt(var) + eps), the formula MLX's docstring stated before 0.32.0")
def _():
    def make(calc_stats):
        def patched(self, x, ddof=0):
            mean, var = calc_stats(self, x, ddof)
            if ddof:            # the running variance's statistic stays right
                return mean, var
            hit()
            return mean, (mx.sqrt(var) + self.eps) ** 2 - self.eps   # rsqrt(var' + eps) = 1 / (sqrt(var) + eps)
        return patched
    _patch(nn.BatchNorm, "_calc_stats", make)


@mutant("bn_statistics_not_stored", "training computes the running update but never stores it (assigned to locals, not self)")
def _():
    def make(call):
        def patched(self, x):
            if not _updates(self):
                return call(self, x)
            hit()
            with _attributes(self, running_mean=self.running_mean, running_var=self.running_var):
                return call(self, x)   # the update lands in attributes that are put back after the call
        return patched
    _patch(nn.BatchNorm, "__call__", make)


@mutant("bn_eval_batch_stats", "inference normalizes with the batch statistics (running statistics left alone)")
def _():
    def make(call):
        def patched(self, x):
            if self.training or not self.track_running_stats:
                return call(self, x)
            hit()
            with _attributes(self, track_running_stats=False):
                return call(self, x)
        return patched
    _patch(nn.BatchNorm, "__call__", make)


@mutant("bn_train_running_stats", "training normalizes with the running statistics (which are still updated)")
def _():
    def make(call):
        def patched(self, x):
            if not _updates(self):
                return call(self, x)
            hit()
            old = self.running_mean, self.running_var
            call(self, x)   # the update; the attributes are restored to its result after the next call
            with _attributes(self, running_mean=old[0], running_var=old[1]), _mode(self, False):
                return call(self, x)
        return patched
    _patch(nn.BatchNorm, "__call__", make)


@mutant("bn_affine_ignored", "weight and bias are not applied")
def _():
    def make(call):
        def patched(self, x):
            if "weight" not in self:
                return call(self, x)
            hit()
            with _attributes(self, weight=mx.ones_like(self.weight), bias=mx.zeros_like(self.bias)):
                return call(self, x)
        return patched
    _patch(nn.BatchNorm, "__call__", make)


@mutant("bn_batch_size_one_accepted", "a training batch of one passes (y = beta), the check dropped")
def _():
    def make(call):
        def patched(self, x):
            if not (self.training and x.size == x.shape[-1]):
                return call(self, x)
            hit()
            with _attributes(self, track_running_stats=False), _mode(self, False):
                return call(self, x)
        return patched
    _patch(nn.BatchNorm, "__call__", make)


# ---------------------------------------------------------------- Dropout

DROPOUTS = (nn.Dropout, nn.Dropout2d, nn.Dropout3d)


def _drops(layer) -> bool:
    return layer.training and layer._p_1 < 1


def _patch_dropouts(make, classes=DROPOUTS):
    for cls in classes:
        _patch(cls, "__call__", make)


@mutant("do_unscaled", "training dropout returns x * mask, without the 1 / (1 - p) scale")
def _():
    def make(call):
        def patched(self, x):
            if not _drops(self):
                return call(self, x)
            hit()
            return call(self, x) * self._p_1
        return patched
    _patch_dropouts(make)


@mutant("do_rate_off", "drops with probability 0.9 p (and scales by 1 / (1 - 0.9 p))")
def _():
    def make(call):
        def patched(self, x):
            if not _drops(self):
                return call(self, x)
            hit()
            with _attributes(self, _p_1=1 - 0.9 * (1 - self._p_1)):
                return call(self, x)
        return patched
    _patch_dropouts(make)


@mutant("do_eval_active", "dropout also drops in inference (the training flag ignored)")
def _():
    def make(call):
        def patched(self, x):
            if self.training or self._p_1 == 1:
                return call(self, x)
            hit()
            with _mode(self, True):
                return call(self, x)
        return patched
    _patch_dropouts(make)


@mutant("do_2d_elementwise", "Dropout2d drops single elements instead of whole channels")
def _():
    def make(call):
        def patched(self, x):
            if not _drops(self):
                return call(self, x)
            hit()
            return nn.Dropout.__call__(self, x)
        return patched
    _patch_dropouts(make, (nn.Dropout2d,))


@mutant("do_3d_two_axes", "Dropout3d's mask keeps the depth axis (copied from Dropout2d: only H and W set to 1)")
def _():
    def make(call):
        def patched(self, x):
            if not _drops(self):
                return call(self, x)
            hit()
            shape = list(x.shape)
            shape[-2] = shape[-3] = 1
            return (mx.random.bernoulli(p=self._p_1, shape=shape) * x) * (1 / self._p_1)
        return patched
    _patch_dropouts(make, (nn.Dropout3d,))


@mutant("do_grad_unscaled", "dropout's gradient is dy * mask, without the 1 / (1 - p) scale")
def _():
    def make(call):
        def patched(self, x):
            y = call(self, x)
            if not _drops(self):
                return y
            hit()
            kept = x * (y != 0).astype(x.dtype)
            return mx.stop_gradient(y) + kept - mx.stop_gradient(kept)
        return patched
    _patch_dropouts(make)


@mutant("do_constant_key", "every call draws its mask from the same key (the global key is reseeded in the layer)")
def _():
    def make(call):
        def patched(self, x):
            if not _drops(self):
                return call(self, x)
            hit()
            mx.random.seed(0)
            return call(self, x)
        return patched
    _patch_dropouts(make)
