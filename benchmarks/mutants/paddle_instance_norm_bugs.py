"""Bugs of PaddlePaddle's InstanceNorm1D/2D/3D, which call ``instance_norm`` as paddle.nn.layer.norm imported it:
each replaces that name or _InstanceNormBase.forward."""
import paddle

from benchmarks.mutants.kit import hit, mutant

INSTANCE_NORM = "paddle.nn.layer.norm.instance_norm"


@mutant("pin_eps_dropped", INSTANCE_NORM, bind=True)
def _(instance_norm, **a):
    hit()
    return instance_norm(**{**a, "eps": 0.0})


@mutant("pin_affine_ignored", INSTANCE_NORM, bind=True)
def _(instance_norm, **a):
    if hit(a["weight"] is not None):
        a.update(weight=None, bias=None)
    return instance_norm(**a)


@mutant("pin_eval_batch_stats", "paddle.nn.layer.norm._InstanceNormBase.forward")
def _(forward, self, input):
    if not hit(not self.training):
        return forward(self, input)
    axes = [0, *range(2, input.ndim)]
    mean = input.mean(axis=axes, keepdim=True)
    var = ((input - mean) ** 2).mean(axis=axes, keepdim=True)
    y = (input - mean) / paddle.sqrt(var + self._epsilon)
    if self.scale is not None:
        shape = [1, -1] + [1] * (input.ndim - 2)
        y = y * self.scale.reshape(shape) + self.bias.reshape(shape)
    return y
