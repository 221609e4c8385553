"""Bugs injected into torch.compile's own machinery, which eager PyTorch never runs (see
benchmarks/mutants/__init__.py for the machinery).

AOTAutograd and inductor lower BatchNorm through the decompositions of ``torch._decomp.decompositions``
(``native_batch_norm_helper`` for the forward of every training and inference variant, looked up by name when
a graph is traced, and ``native_batch_norm_backward`` for the gradient, the entry of inductor's table for the
op the joint graph holds), and
element dropout through inductor's random decomposition table (``extra_random_decomps``, the
``native_dropout`` that replaces the eager kernel). Each mutant is a bug of that lowering: the compiled
program still runs and is wrong in one behaviour only. ``hit()`` counts the traces a mutant changed.

The FX graph and AOTAutograd caches are keyed by the traced graph, not by the decompositions' code, so a
cached program would hide a mutant: installing one turns those two caches off for its run (``_no_graph_caches``).
Compiled kernels stay cached: they are keyed by their generated source, which a mutant changes.
"""
import torch
import torch._decomp.decompositions as decompositions
import torch._functorch.config
import torch._inductor.config
import torch._inductor.decomposition as inductor_decompositions

from benchmarks.mutants import hit, mutant

aten = torch.ops.aten


def _no_graph_caches():
    torch._inductor.config.fx_graph_cache = False
    torch._functorch.config.enable_autograd_cache = False


def _patch_batch_norm_helper(change):
    """Replace native_batch_norm_helper by one whose results (output, save_mean, save_rstd, new_running_mean,
    new_running_var) pass through ``change(results, arguments)`` before any in-place running update; the
    arguments include ``helper``, the original."""
    _no_graph_caches()
    original = decompositions.native_batch_norm_helper

    def helper(input, weight, bias, running_mean, running_var, training, momentum, eps, functional):
        results = original(input, weight, bias, running_mean, running_var, training, momentum, eps, True)
        changed = change(results, dict(input=input, running_mean=running_mean, running_var=running_var,
                                       training=training, momentum=momentum, eps=eps, weight=weight, bias=bias,
                                       helper=original))
        if changed is not results:
            hit()
        if not functional:
            for buffer, new in ((running_mean, changed[3]), (running_var, changed[4])):
                if buffer is not None and new is not buffer:
                    buffer.copy_(new)
        return changed

    decompositions.native_batch_norm_helper = helper


@mutant("inductor_bn_running_var_biased", "the compiled update blends the biased batch variance into running_var "
        "(the n/(n-1) factor dropped in the decomposition)")
def _():
    def change(results, a):
        if not (a["training"] and a["running_var"] is not None):
            return results
        n = a["input"].numel() / a["input"].shape[1]
        m = a["momentum"]
        unbiased = (results[4] - (1 - m) * a["running_var"]) / m
        return (*results[:4], m * unbiased * ((n - 1) / n) + (1 - m) * a["running_var"])
    _patch_batch_norm_helper(change)


@mutant("inductor_bn_running_update_dropped", "the compiled training graph returns the running statistics unchanged "
        "(the functionalized update lost, as in pytorch#88375)")
def _():
    def change(results, a):
        if not (a["training"] and a["running_mean"] is not None):
            return results
        return (*results[:3], a["running_mean"], a["running_var"])
    _patch_batch_norm_helper(change)


@mutant("inductor_bn_eval_batch_stats", "the compiled inference graph normalizes with the batch statistics")
def _():
    def change(results, a):
        if a["training"] or a["running_mean"] is None:
            return results
        batch = a["helper"](
            a["input"], a["weight"], a["bias"], None, None, True, a["momentum"], a["eps"], True)
        return (batch[0], *results[1:])
    _patch_batch_norm_helper(change)


@mutant("inductor_bn_backward_constant_stats", "the compiled training gradient treats the batch mean and variance "
        "as constants (the inference formula with the batch statistics)")
def _():
    _no_graph_caches()
    original = decompositions.native_batch_norm_backward

    def backward(grad_out, input, weight, running_mean, running_var, save_mean, save_invstd, train, eps, output_mask):
        if train and save_invstd is not None and save_invstd.numel():
            hit()
            return original(grad_out, input, weight, save_mean, 1 / save_invstd ** 2 - eps, save_mean, save_invstd,
                            False, eps, output_mask)
        return original(grad_out, input, weight, running_mean, running_var, save_mean, save_invstd, train, eps,
                        output_mask)

    decompositions.native_batch_norm_backward = backward   # batch_norm_backward's decomposition calls it by name
    inductor_decompositions.decompositions[aten.native_batch_norm_backward.default] = backward   # the joint graph's op


def _patch_dropout(change):
    """Replace inductor's native_dropout decomposition by ``change(original)`` (training calls only)."""
    _no_graph_caches()
    original = inductor_decompositions.extra_random_decomps.get(aten.native_dropout.default,
                                                                decompositions.native_dropout)

    def native_dropout(input, p, train):
        if train and 0 < p < 1:
            hit()
            return change(input, p)
        return original(input, p, train)

    inductor_decompositions.extra_random_decomps[aten.native_dropout.default] = native_dropout


@mutant("inductor_dropout_unscaled", "the compiled dropout keeps x * mask without the 1 / (1 - p) scale")
def _():
    def change(input, p):
        mask = torch.rand_like(input) > p
        return mask * input, mask
    _patch_dropout(change)


@mutant("inductor_dropout_rate_off", "the compiled dropout drops with probability 0.9 p (scaled by 1 / (1 - 0.9 p))")
def _():
    def change(input, p):
        mask = torch.rand_like(input) > 0.9 * p
        return mask * input * (1.0 / (1.0 - 0.9 * p)), mask
    _patch_dropout(change)
