"""Bugs of torch.compile's own machinery, which eager PyTorch never runs. AOTAutograd and inductor lower BatchNorm
through ``torch._decomp.decompositions`` (``native_batch_norm_helper`` for the forward of every variant, looked up
by name when a graph is traced; ``native_batch_norm_backward`` for the gradient, also the entry of inductor's table
for the joint graph's op), and element dropout through inductor's ``extra_random_decomps`` (the ``native_dropout``
that replaces the eager kernel). ``hit()`` counts the traces a mutant changed.

The FX graph and AOTAutograd caches are keyed by the traced graph, not by the decompositions' code, so each mutant
turns those two off for its run; compiled kernels stay cached (keyed by their generated source, which a mutant
changes)."""
import torch
import torch._decomp.decompositions as decompositions
import torch._functorch.config
import torch._inductor.config
import torch._inductor.decomposition as inductor_decompositions

from benchmarks.mutants.kit import hit, mutant, replace

aten = torch.ops.aten
HELPER = (decompositions, "native_batch_norm_helper")


def _no_graph_caches():
    torch._inductor.config.fx_graph_cache = False
    torch._functorch.config.enable_autograd_cache = False


def _helper(change):
    """native_batch_norm_helper whose results (output, save_mean, save_rstd, new_running_mean, new_running_var) pass
    through change(results, arguments) before any in-place running update; the arguments include ``helper``, the
    original."""
    def helper(original, input, weight, bias, running_mean, running_var, training, momentum, eps, functional):
        results = original(input, weight, bias, running_mean, running_var, training, momentum, eps, True)
        changed = change(results, dict(input=input, running_mean=running_mean, running_var=running_var, training=training,
                                       momentum=momentum, eps=eps, weight=weight, bias=bias, helper=original))
        hit(changed is not results)
        for buffer, new in ((running_mean, changed[3]), (running_var, changed[4])):
            if not functional and buffer is not None and new is not buffer:
                buffer.copy_(new)
        return changed
    return helper


def compiled(name, target, make):
    """Register mutant ``name``: the graph caches off, the target replaced by make(decorated function)."""
    def register(fn):
        mutant(name)(lambda: (_no_graph_caches(), replace(target, make(fn))))
        return fn
    return register


def _batch_norm(name):
    return compiled(name, HELPER, _helper)


@_batch_norm("inductor_bn_running_var_biased")
def _(results, a):
    if not (a["training"] and a["running_var"] is not None):
        return results
    n, m = a["input"].numel() / a["input"].shape[1], a["momentum"]
    unbiased = (results[4] - (1 - m) * a["running_var"]) / m
    return (*results[:4], m * unbiased * ((n - 1) / n) + (1 - m) * a["running_var"])


@_batch_norm("inductor_bn_running_update_dropped")
def _(results, a):
    return (*results[:3], a["running_mean"], a["running_var"]) if a["training"] and a["running_mean"] is not None else results


@_batch_norm("inductor_bn_eval_batch_stats")
def _(results, a):
    if a["training"] or a["running_mean"] is None:
        return results
    batch = a["helper"](a["input"], a["weight"], a["bias"], None, None, True, a["momentum"], a["eps"], True)
    return (batch[0], *results[1:])


@mutant("inductor_bn_backward_constant_stats")
def _():
    _no_graph_caches()
    original = decompositions.native_batch_norm_backward

    def backward(grad_out, input, weight, running_mean, running_var, save_mean, save_invstd, train, eps, output_mask):
        if hit(train and save_invstd is not None and save_invstd.numel()):
            return original(grad_out, input, weight, save_mean, 1 / save_invstd ** 2 - eps, save_mean, save_invstd,
                            False, eps, output_mask)
        return original(grad_out, input, weight, running_mean, running_var, save_mean, save_invstd, train, eps, output_mask)

    decompositions.native_batch_norm_backward = backward   # batch_norm_backward's decomposition calls it by name
    inductor_decompositions.decompositions[aten.native_batch_norm_backward.default] = backward   # the joint graph's op


def _dropout(change):
    """inductor's native_dropout decomposition (the eager one where it has none) with change(input, p) for the
    training calls."""
    inductor_decompositions.extra_random_decomps.setdefault(aten.native_dropout.default, decompositions.native_dropout)

    def native_dropout(original, input, p, train):
        return change(input, p) if hit(train and 0 < p < 1) else original(input, p, train)
    return native_dropout


DROPOUT = (inductor_decompositions.extra_random_decomps, aten.native_dropout.default)


@compiled("inductor_dropout_unscaled", DROPOUT, _dropout)
def _(input, p):
    mask = torch.rand_like(input) > p
    return mask * input, mask


@compiled("inductor_dropout_rate_off", DROPOUT, _dropout)
def _(input, p):
    mask = torch.rand_like(input) > 0.9 * p
    return mask * input * (1.0 / (1.0 - 0.9 * p)), mask
