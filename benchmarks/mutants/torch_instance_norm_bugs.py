"""Bugs of PyTorch's InstanceNorm, SyncBatchNorm and LazyBatchNorm: the InstanceNorm mutants replace
torch.nn.functional.instance_norm (InstanceNorm*d._apply_instance_norm looks it up at call time), its spatial-size
check or the module's defaults; the others SyncBatchNorm.forward and _LazyNormBase.initialize_parameters."""
import torch
import torch.nn.functional as F

from benchmarks.mutants.kit import attributes, hit, mutant
from benchmarks.mutants.torch_bugs import functional

IN_INIT, SYNC = "torch.nn.modules.instancenorm._InstanceNorm.__init__", "torch.nn.SyncBatchNorm.forward"
LAZY = "torch.nn.modules.batchnorm._LazyNormBase.initialize_parameters"


def _spatial(x):
    return tuple(range(2, x.ndim))


def _updating(k):
    return k["use_input_stats"] and k["running_mean"] is not None


def _rewrite_update(statistic):
    """F.instance_norm with its running update overwritten by (1 - m) old + m statistic(x) (mean, var)."""
    def body(instance_norm, **k):
        if not hit(_updating(k)):
            return instance_norm(**k)
        old = k["running_mean"].clone(), k["running_var"].clone()
        y = instance_norm(**k)
        with torch.no_grad():
            for target, before, value in zip((k["running_mean"], k["running_var"]), old, statistic(k["input"])):
                target.copy_((1 - k["momentum"]) * before + k["momentum"] * value.to(target.dtype))
        return y
    return body


functional("in_running_var_biased", "instance_norm")(
    _rewrite_update(lambda x: (x.mean(_spatial(x)).mean(0), x.var(_spatial(x), unbiased=False).mean(0))))
functional("in_running_summed_over_batch", "instance_norm")(
    _rewrite_update(lambda x: (x.mean(_spatial(x)).sum(0), x.var(_spatial(x), unbiased=True).sum(0))))
functional("in_running_first_instance", "instance_norm")(
    _rewrite_update(lambda x: (x.mean(_spatial(x))[0], x.var(_spatial(x), unbiased=True)[0])))


@functional("in_eval_instance_stats", "instance_norm")
def _(instance_norm, **k):
    if hit(not k["use_input_stats"]):
        k.update(use_input_stats=True, running_mean=None, running_var=None)
    return instance_norm(**k)


@functional("in_momentum_reversed", "instance_norm")
def _(instance_norm, **k):
    if hit(_updating(k)):
        k["momentum"] = 1 - k["momentum"]
    return instance_norm(**k)


@functional("in_running_not_written", "instance_norm")
def _(instance_norm, **k):
    if hit(_updating(k)):
        k.update(running_mean=k["running_mean"].clone(), running_var=k["running_var"].clone())
    return instance_norm(**k)


@functional("in_grad_constant_statistics", "instance_norm")
def _(instance_norm, **k):
    x = k["input"]
    if not hit(k["use_input_stats"] and x.requires_grad):
        return instance_norm(**k)
    y = instance_norm(**k)
    axes, shape = _spatial(x), (1, -1, *([1] * (x.ndim - 2)))
    mean, var = x.mean(axes, keepdim=True).detach(), x.var(axes, unbiased=False, keepdim=True).detach()
    alt = (x - mean) / torch.sqrt(var + k["eps"])
    if k["weight"] is not None:
        alt = alt * k["weight"].reshape(shape) + k["bias"].reshape(shape)
    return y.detach() + (alt - alt.detach())


@mutant("in_spatial_one_accepted", (F, "_verify_spatial_size"))
def _(check, size):
    if not hit(all(s == 1 for s in size[2:])):
        check(size)


@mutant("in_default_eps", IN_INIT)
def _(init, self, num_features, *args, **kwargs):
    if hit(not args and "eps" not in kwargs):
        kwargs["eps"] = 1e-3
    init(self, num_features, *args, **kwargs)


@mutant("in_default_tracking", IN_INIT)
def _(init, self, num_features, *args, **kwargs):
    if hit(len(args) < 4 and "track_running_stats" not in kwargs):
        kwargs["track_running_stats"] = True
    init(self, num_features, *args, **kwargs)


@mutant("sync_eval_batch_stats", SYNC)
def _(forward, self, input):
    if hit(not self.training):
        return F.batch_norm(input, None, None, self.weight, self.bias, True, 0.0, self.eps)
    return forward(self, input)


@mutant("sync_momentum_reversed", SYNC)
def _(forward, self, input):
    if not hit(self.training and self.momentum is not None):
        return forward(self, input)
    with attributes(self, momentum=1 - self.momentum):
        return forward(self, input)


@mutant("lazy_running_var_zero", LAZY)
def _(initialize, self, input):
    materialising = self.has_uninitialized_params()
    initialize(self, input)
    if hit(materialising and self.running_var is not None):
        with torch.no_grad():
            self.running_var.zero_()


def _reset_after(module, args, output):
    hit()
    module.reset_running_stats()
    module._forward_hooks.pop(module._lazy_reset)


@mutant("lazy_first_call_reset", LAZY)
def _(initialize, self, input):
    materialising = self.has_uninitialized_params()
    initialize(self, input)
    if materialising and self.training and self.track_running_stats:
        self._lazy_reset = self.register_forward_hook(_reset_after).id
