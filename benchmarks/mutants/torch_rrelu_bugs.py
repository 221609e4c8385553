"""PyTorch's RReLU: rrelu_family's bugs of torch.nn.functional.rrelu, and the module's default."""
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from benchmarks.mutants import rrelu_family
from benchmarks.mutants.kit import hit, mutant

rrelu_family.register(SimpleNamespace(
    target="torch.nn.functional.rrelu", x="input", grad=lambda x: x.requires_grad, leaky_relu=F.leaky_relu, kernel_first=True,
    with_slopes=lambda x, a: torch.where(x >= 0, x, x * a.to(x.dtype)),
    slopes=lambda rng, x, lower, upper: torch.from_numpy(rng.uniform(lower, upper, tuple(x.shape))).to(x.device),
    one_slope=lambda x, lower, upper: torch.empty((), dtype=torch.float64).uniform_(lower, upper).expand(x.shape)))


@mutant("rrelu_default_upper")
def _():
    init = torch.nn.RReLU.__init__
    defaults = init.__defaults__

    def __init__(self, lower=defaults[0], upper=0.3, inplace=defaults[2]):
        hit(upper == 0.3)
        init(self, lower, upper, inplace)
    torch.nn.RReLU.__init__ = __init__
