"""Bugs of PyTorch's other kernels (specs/behaviours/kernels.yaml): each replaces a function of ``torch.nn.functional``
(torch_bugs.functional) and changes a call only on the kernel it names: a channels-last input (the
batch_norm_cpu_channels_last_impl and feature dropout paths of aten) or inplace=True. The default path's checks run
the default kernels, so only the kernel checks catch them."""
import torch
import torch.nn.functional as F

from benchmarks.mutants.kit import hit, mutant
from benchmarks.mutants.torch_bugs import BN, DROPOUT, functional

DROPOUT_ND = [(F, "dropout2d"), (F, "dropout3d")]


def _channels_last(t) -> bool:
    """A 4-d or 5-d tensor in a channels-last memory format (and not also contiguous, as a tensor of one pixel is)."""
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    return t.dim() in formats and not t.is_contiguous() and t.is_contiguous(memory_format=formats[t.dim()])


@functional("bn_channels_last_strides_ignored", BN)
def _(batch_norm, **a):
    x = a["input"]
    if not hit(_channels_last(x)):
        return batch_norm(**a)
    # the memory (N, spatial..., C) read as a contiguous (N, C, spatial...) tensor, the result written back likewise
    n, c, *spatial = x.shape
    y = batch_norm(**{**a, "input": x.permute(0, *range(2, x.dim()), 1).reshape(x.shape)})
    return y.reshape(n, *spatial, c).permute(0, x.dim() - 1, *range(1, x.dim() - 1))


@functional("bn_channels_last_backward_constant_stats", BN)
def _(batch_norm, **a):
    x = a["input"]
    if not hit(_channels_last(x) and a["training"]):
        return batch_norm(**a)
    batch_norm(**a)   # the running statistics move as they should
    axes, shape = [0, *range(2, x.dim())], (1, -1) + (1,) * (x.dim() - 2)
    mean, var = x.detach().mean(axes, keepdim=True), x.detach().var(axes, unbiased=False, keepdim=True)
    y = (x - mean) / torch.sqrt(var + a["eps"])
    if a["weight"] is not None:
        y = y * a["weight"].view(shape) + a["bias"].view(shape)
    return y   # the same values; dx lacks the terms through mean_B and var_B


@functional("bn_channels_last_eval_batch_stats", BN)
def _(batch_norm, **a):
    if hit(_channels_last(a["input"]) and not a["training"]):
        a.update(training=True, running_mean=None, running_var=None)
    return batch_norm(**a)


@functional("do_inplace_unscaled", DROPOUT)
def _(dropout, **a):
    if hit(a["inplace"] and a["training"] and 0 < a["p"] < 1):
        return a["input"].mul_(torch.empty_like(a["input"]).bernoulli_(1 - a["p"]))
    return dropout(**a)


@mutant("do_inplace_ignored", *[(F, n) for n in ("dropout", "dropout1d", "dropout2d", "dropout3d")], bind=True, once=True)
def _(dropout, **a):
    return dropout(**{**a, "inplace": False} if hit(a["inplace"] and a["training"]) else a)


@mutant("do_channels_last_elementwise", *DROPOUT_ND, bind=True, once=True)
def _(dropout_nd, **a):
    if hit(_channels_last(a["input"]) and a["training"]):
        return (torch.dropout_ if a["inplace"] else torch.dropout)(a["input"], a["p"], True)
    return dropout_nd(**a)


@mutant("do_channels_last_pixel_mask", *DROPOUT_ND, bind=True, once=True)
def _(dropout_nd, **a):
    x, p = a["input"], a["p"]
    if not hit(_channels_last(x) and a["training"] and 0 < p < 1):
        return dropout_nd(**a)
    keep = torch.empty((x.shape[0], 1, *x.shape[2:]), dtype=x.dtype, device=x.device).bernoulli_(1 - p)
    return x * keep / (1 - p)


@functional("rrelu_inplace_ignored", "rrelu")
def _(rrelu, **a):
    return rrelu(**{**a, "inplace": False} if hit(a["inplace"]) else a)
