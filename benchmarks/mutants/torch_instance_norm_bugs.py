"""Semantic bugs injected into PyTorch's InstanceNorm, SyncBatchNorm and LazyBatchNorm (see
benchmarks/mutants/__init__.py for the machinery).

The InstanceNorm mutants replace ``torch.nn.functional.instance_norm`` (InstanceNorm*d._apply_instance_norm looks it
up at call time) the way torch_bugs.py patches F.batch_norm, or its spatial-size check and the module's defaults;
the others patch SyncBatchNorm.forward and _LazyNormBase. Each layer still runs, returns the right shape and dtype,
and is wrong in one behaviour only.
"""
import torch
import torch.nn.functional as F
from torch.nn.modules import batchnorm, instancenorm

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.torch_bugs import _patch


def _spatial(x):
    return tuple(range(2, x.ndim))


def _rewrite_update(statistic):
    """Run F.instance_norm, then overwrite its running update by (1 - m) old + m statistic(x) (mean, var)."""
    def wrapper(instance_norm):
        def body(**k):
            if not (k["use_input_stats"] and k["running_mean"] is not None):
                return instance_norm(**k)
            hit()
            old = k["running_mean"].clone(), k["running_var"].clone()
            y = instance_norm(**k)
            m = k["momentum"]
            with torch.no_grad():
                for target, before, value in zip((k["running_mean"], k["running_var"]), old, statistic(k["input"])):
                    target.copy_((1 - m) * before + m * value.to(target.dtype))
            return y
        return body
    _patch("instance_norm", wrapper)


@mutant("in_running_var_biased", "InstanceNorm folds the biased instance variances into running_var")
def _():
    _rewrite_update(lambda x: (x.mean(_spatial(x)).mean(0), x.var(_spatial(x), unbiased=False).mean(0)))


@mutant("in_running_summed_over_batch", "InstanceNorm sums the instance statistics over the batch instead of averaging")
def _():
    _rewrite_update(lambda x: (x.mean(_spatial(x)).sum(0), x.var(_spatial(x), unbiased=True).sum(0)))


@mutant("in_running_first_instance", "InstanceNorm's running statistics take the first instance's, not the batch mean")
def _():
    _rewrite_update(lambda x: (x.mean(_spatial(x))[0], x.var(_spatial(x), unbiased=True)[0]))


@mutant("in_eval_instance_stats", "InstanceNorm with running statistics normalises with the instance statistics in inference")
def _():
    def make(instance_norm):
        def body(**k):
            if not k["use_input_stats"]:
                hit()
                k.update(use_input_stats=True, running_mean=None, running_var=None)
            return instance_norm(**k)
        return body
    _patch("instance_norm", make)


@mutant("in_momentum_reversed", "InstanceNorm's running update uses 1 - momentum (the Keras meaning)")
def _():
    def make(instance_norm):
        def body(**k):
            if k["use_input_stats"] and k["running_mean"] is not None:
                hit()
                k["momentum"] = 1 - k["momentum"]
            return instance_norm(**k)
        return body
    _patch("instance_norm", make)


@mutant("in_running_not_written", "InstanceNorm updates copies of the running statistics, never the module's buffers")
def _():
    def make(instance_norm):
        def body(**k):
            if k["use_input_stats"] and k["running_mean"] is not None:
                hit()
                k.update(running_mean=k["running_mean"].clone(), running_var=k["running_var"].clone())
            return instance_norm(**k)
        return body
    _patch("instance_norm", make)


@mutant("in_grad_constant_statistics", "InstanceNorm's training gradient treats the instance statistics as constants")
def _():
    def make(instance_norm):
        def body(**k):
            x = k["input"]
            if not (k["use_input_stats"] and x.requires_grad):
                return instance_norm(**k)
            hit()
            y = instance_norm(**k)
            axes, shape = _spatial(x), (1, -1, *([1] * (x.ndim - 2)))
            mean, var = x.mean(axes, keepdim=True).detach(), x.var(axes, unbiased=False, keepdim=True).detach()
            alt = (x - mean) / torch.sqrt(var + k["eps"])
            if k["weight"] is not None:
                alt = alt * k["weight"].reshape(shape) + k["bias"].reshape(shape)
            return y.detach() + (alt - alt.detach())
        return body
    _patch("instance_norm", make)


@mutant("in_spatial_one_accepted", "InstanceNorm trains on instances of one entry (no spatial-size check): y = beta")
def _():
    check = F._verify_spatial_size

    def verify(size):
        if all(s == 1 for s in size[2:]):
            hit()
            return
        check(size)
    F._verify_spatial_size = verify


@mutant("in_default_eps", "InstanceNorm's default eps is 1e-3 instead of 1e-5")
def _():
    init = instancenorm._InstanceNorm.__init__

    def __init__(self, num_features, *args, **kwargs):
        if not args and "eps" not in kwargs:
            hit()
            kwargs["eps"] = 1e-3
        init(self, num_features, *args, **kwargs)
    instancenorm._InstanceNorm.__init__ = __init__


@mutant("in_default_tracking", "InstanceNorm keeps running statistics by default (track_running_stats=True)")
def _():
    init = instancenorm._InstanceNorm.__init__

    def __init__(self, num_features, *args, **kwargs):
        if len(args) < 4 and "track_running_stats" not in kwargs:
            hit()
            kwargs["track_running_stats"] = True
        init(self, num_features, *args, **kwargs)
    instancenorm._InstanceNorm.__init__ = __init__


@mutant("sync_eval_batch_stats", "SyncBatchNorm in one process normalises with the batch statistics in inference")
def _():
    forward = torch.nn.SyncBatchNorm.forward

    def wrapper(self, input):
        if not self.training:
            hit()
            return F.batch_norm(input, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return forward(self, input)
    torch.nn.SyncBatchNorm.forward = wrapper


@mutant("sync_momentum_reversed", "SyncBatchNorm's single-process fallback passes 1 - momentum to F.batch_norm")
def _():
    forward = torch.nn.SyncBatchNorm.forward

    def wrapper(self, input):
        if self.training and self.momentum is not None:
            hit()
            momentum, self.momentum = self.momentum, 1 - self.momentum
            try:
                return forward(self, input)
            finally:
                self.momentum = momentum
        return forward(self, input)
    torch.nn.SyncBatchNorm.forward = wrapper


@mutant("lazy_running_var_zero", "LazyBatchNorm materialises running_var as 0 instead of 1")
def _():
    initialize = batchnorm._LazyNormBase.initialize_parameters

    def wrapper(self, input):
        materialising = self.has_uninitialized_params()
        initialize(self, input)
        if materialising and self.running_var is not None:
            hit()
            with torch.no_grad():
                self.running_var.zero_()
    batchnorm._LazyNormBase.initialize_parameters = wrapper


@mutant("lazy_first_call_reset", "LazyBatchNorm resets its running statistics after the materialising call, undoing its update")
def _():
    initialize = batchnorm._LazyNormBase.initialize_parameters

    def reset_after(module, args, output):
        hit()
        module.reset_running_stats()
        module._forward_hooks.pop(module._lazy_reset)

    def wrapper(self, input):
        materialising = self.has_uninitialized_params()
        initialize(self, input)
        if materialising and self.training and self.track_running_stats:
            self._lazy_reset = self.register_forward_hook(reset_after).id
    batchnorm._LazyNormBase.initialize_parameters = wrapper
