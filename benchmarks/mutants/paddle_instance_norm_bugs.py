"""Semantic bugs injected into PaddlePaddle's InstanceNorm (see benchmarks/mutants/__init__.py for the machinery).

The layers InstanceNorm1D/2D/3D call ``instance_norm`` as ``paddle.nn.layer.norm`` imported it; the mutants replace
that name (through paddle_bugs._patch), or _InstanceNormBase's forward and defaults: the layer still runs, returns
the right shape and dtype, and is wrong in one behaviour only.
"""
import paddle
from paddle.nn.layer import norm

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.paddle_bugs import _patch


@mutant("pin_eps_dropped", "InstanceNorm normalises with 1 / sqrt(var) (epsilon not passed to the kernel)")
def _():
    def make(instance_norm):
        def body(**a):
            hit()
            return instance_norm(**{**a, "eps": 0.0})
        return body
    _patch(norm, "instance_norm", make)


@mutant("pin_affine_ignored", "InstanceNorm drops scale and bias (weight=None, bias=None)")
def _():
    def make(instance_norm):
        def body(**a):
            if a["weight"] is not None:
                hit()
                a.update(weight=None, bias=None)
            return instance_norm(**a)
        return body
    _patch(norm, "instance_norm", make)


@mutant("pin_eval_batch_stats", "InstanceNorm in eval() normalises with statistics over the batch and space (BatchNorm's)")
def _():
    forward = norm._InstanceNormBase.forward

    def wrapper(self, input):
        if self.training:
            return forward(self, input)
        hit()
        axes = [0, *range(2, input.ndim)]
        mean = input.mean(axis=axes, keepdim=True)
        var = ((input - mean) ** 2).mean(axis=axes, keepdim=True)
        y = (input - mean) / paddle.sqrt(var + self._epsilon)
        if self.scale is not None:
            shape = [1, -1] + [1] * (input.ndim - 2)
            y = y * self.scale.reshape(shape) + self.bias.reshape(shape)
        return y
    norm._InstanceNormBase.forward = wrapper

