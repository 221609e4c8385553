"""Semantic bugs of PyTorch's other kernels (specs/behaviours/kernels.yaml; machinery: benchmarks/mutants/__init__.py).

Each mutant replaces a function of ``torch.nn.functional`` (the modules look it up at call time) and changes what a
call does only on the kernel it names: a channels-last input (the batch_norm_cpu_channels_last_impl and feature dropout
paths of aten) or inplace=True. The default path's checks run the default kernels, so only the kernel checks catch them.
"""
import torch

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.torch_bugs import _patch


def _channels_last(t) -> bool:
    """A 4-d or 5-d tensor in a channels-last memory format (and not also contiguous, as a tensor of one pixel is)."""
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    return t.dim() in formats and not t.is_contiguous() and t.is_contiguous(memory_format=formats[t.dim()])


def _memory_as_contiguous(t):
    """A channels-last tensor's memory (N, spatial..., C) read as a contiguous tensor of its shape (N, C, spatial...):
    what a kernel that ignores the strides sees."""
    return t.permute(0, *range(2, t.dim()), 1).reshape(t.shape)


def _contiguous_as_memory(t):
    """The inverse: a contiguous result written back into channels-last memory of the same shape."""
    n, c, *spatial = t.shape
    return t.reshape(n, *spatial, c).permute(0, t.dim() - 1, *range(1, t.dim() - 1))


@mutant("bn_channels_last_strides_ignored", "channels-last BatchNorm reads its memory as NCHW: statistics over the wrong groups of values")
def _():
    def make(batch_norm):
        def wrapper(**a):
            if _channels_last(a["input"]):
                hit()
                a["input"] = _memory_as_contiguous(a["input"])
                return _contiguous_as_memory(batch_norm(**a))
            return batch_norm(**a)
        return wrapper
    _patch("batch_norm", make)


@mutant("bn_channels_last_backward_constant_stats", "channels-last BatchNorm's training backward treats the batch statistics as constants")
def _():
    def make(batch_norm):
        def wrapper(**a):
            x = a["input"]
            if _channels_last(x) and a["training"]:
                hit()
                batch_norm(**a)   # the running statistics move as they should
                axes, shape = [0, *range(2, x.dim())], (1, -1) + (1,) * (x.dim() - 2)
                mean, var = x.detach().mean(axes, keepdim=True), x.detach().var(axes, unbiased=False, keepdim=True)
                y = (x - mean) / torch.sqrt(var + a["eps"])
                if a["weight"] is not None:
                    y = y * a["weight"].view(shape) + a["bias"].view(shape)
                return y   # the same values; dx lacks the terms through mean_B and var_B
            return batch_norm(**a)
        return wrapper
    _patch("batch_norm", make)


@mutant("bn_channels_last_eval_batch_stats", "channels-last BatchNorm in inference normalises with the batch statistics")
def _():
    def make(batch_norm):
        def wrapper(**a):
            if _channels_last(a["input"]) and not a["training"]:
                hit()
                a.update(training=True, running_mean=None, running_var=None)
            return batch_norm(**a)
        return wrapper
    _patch("batch_norm", make)


@mutant("do_inplace_unscaled", "inplace dropout writes the mask into the input and returns it unscaled: x m, not x m / (1 - p)")
def _():
    def make(dropout):
        def wrapper(**a):
            if a["inplace"] and a["training"] and 0 < a["p"] < 1:
                hit()
                return a["input"].mul_(torch.empty_like(a["input"]).bernoulli_(1 - a["p"]))
            return dropout(**a)
        return wrapper
    _patch("dropout", make)


@mutant("do_inplace_ignored", "Dropout/Dropout1d/2d/3d(inplace=True) return a new tensor and leave the input as it was")
def _():
    def make(dropout):
        def wrapper(**a):
            if a["inplace"] and a["training"]:
                hit()
                a["inplace"] = False
            return dropout(**a)
        return wrapper
    for name in ("dropout", "dropout1d", "dropout2d", "dropout3d"):
        _patch(name, make)


@mutant("do_channels_last_elementwise", "Dropout2d/3d on a channels-last input drops single elements, not whole channels")
def _():
    def make(dropout_nd):
        def wrapper(**a):
            if _channels_last(a["input"]) and a["training"]:
                hit()
                return torch.dropout_(a["input"], a["p"], True) if a["inplace"] else torch.dropout(a["input"], a["p"], True)
            return dropout_nd(**a)
        return wrapper
    for name in ("dropout2d", "dropout3d"):
        _patch(name, make)


@mutant("do_channels_last_pixel_mask", "Dropout2d/3d on a channels-last input draws its mask per (sample, pixel), over all channels")
def _():
    def make(dropout_nd):
        def wrapper(**a):
            x, p = a["input"], a["p"]
            if _channels_last(x) and a["training"] and 0 < p < 1:
                hit()
                keep = torch.empty((x.shape[0], 1, *x.shape[2:]), dtype=x.dtype, device=x.device).bernoulli_(1 - p)
                return x * keep / (1 - p)
            return dropout_nd(**a)
        return wrapper
    for name in ("dropout2d", "dropout3d"):
        _patch(name, make)


@mutant("rrelu_inplace_ignored", "RReLU(inplace=True) returns a new tensor and leaves the input as it was")
def _():
    def make(rrelu):
        def wrapper(**a):
            if a["inplace"]:
                hit()
                a["inplace"] = False
            return rrelu(**a)
        return wrapper
    _patch("rrelu", make)
