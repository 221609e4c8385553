"""PaddlePaddle's RReLU: rrelu_family's bugs of paddle.nn.functional.rrelu, and the layer's default."""
from types import SimpleNamespace

import paddle
import paddle.nn.functional as F

from benchmarks.mutants import rrelu_family
from benchmarks.mutants.kit import hit, mutant


def _with_slopes(x, a):
    """Computed in float32 at least: paddle's CPU multiply and where have no float16 kernels, the rrelu kernel has."""
    wide = x.astype("float64" if x.dtype == paddle.float64 else "float32")
    return paddle.where(wide >= 0, wide, wide * a.astype(wide.dtype)).astype(x.dtype)


rrelu_family.register(SimpleNamespace(
    target="paddle.nn.functional.rrelu", x="x", grad=lambda x: not x.stop_gradient, leaky_relu=F.leaky_relu, kernel_first=False,
    with_slopes=_with_slopes, slopes=lambda rng, x, lower, upper: paddle.to_tensor(rng.uniform(lower, upper, tuple(x.shape))),
    one_slope=lambda x, lower, upper: paddle.uniform([1], dtype="float32", min=lower, max=upper).expand(x.shape)))


@mutant("rrelu_default_upper")
def _():
    init = paddle.nn.RReLU.__init__
    defaults = init.__defaults__

    def __init__(self, lower=defaults[0], upper=0.3, name=defaults[2]):
        hit(upper == 0.3)
        init(self, lower, upper, name)
    paddle.nn.RReLU.__init__ = __init__
