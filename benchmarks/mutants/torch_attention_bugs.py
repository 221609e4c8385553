"""Semantic bugs injected into PyTorch's multi-head attention (see benchmarks/mutants/__init__.py).

nn.MultiheadAttention.forward calls F.multi_head_attention_forward (looked up at call time), which drops the
softmax weights with the module-global F.dropout (need_weights=True) or passes dropout_p to the module-global
F.scaled_dot_product_attention (need_weights=False); in eval under no_grad it calls
torch._native_multi_head_attention, and nn.TransformerEncoderLayer torch._transformer_encoder_layer_fwd. Each
mutant replaces one of these, and the layer still runs and returns the right shapes.
"""
import torch
import torch.nn.functional as F

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.torch_bugs import _patch


def _mha(change):
    """F.multi_head_attention_forward with its bound arguments passed through ``change`` (returns them, or a
    function of the original call's result)."""
    def make(original):
        def forward(**arguments):
            return change(original, arguments)
        return forward
    _patch("multi_head_attention_forward", make)


def _torch_function(name, make):
    """Replace torch.<name> (looked up by the modules at call time) by make(original)."""
    setattr(torch, name, make(getattr(torch, name)))


@mutant("attn_dropout_in_eval", "the attention weights are dropped in eval() too (the training flag ignored)")
def _():
    def change(original, a):
        if not a["training"] and a["dropout_p"] > 0:
            hit()
            a["training"] = True
        return original(**a)
    _mha(change)


@mutant("attn_rate_complement", "the weights are dropped with probability 1 - p (p read as the keep probability)")
def _():
    def change(original, a):
        if a["training"] and a["dropout_p"] > 0:
            hit()
            a["dropout_p"] = 1.0 - a["dropout_p"]
        return original(**a)
    _mha(change)


@mutant("attn_dropout_on_output", "the dropout acts on the attention output instead of the attention weights")
def _():
    def change(original, a):
        p = a["dropout_p"]
        if not (a["training"] and p > 0):
            return original(**a)
        hit()
        out, weights = original(**{**a, "dropout_p": 0.0})
        return F.dropout(out, p, True), weights
    _mha(change)


@mutant("attn_weights_not_rescaled", "need_weights=True: the kept attention weights are not scaled by 1/(1-p)")
def _():
    def make(dropout):
        def scaled(input, p, training, inplace):
            if training and p > 0 and input.dim() == 3:   # the (N H, L, S) weights of multi_head_attention_forward
                hit()
                return dropout(input, p, training, inplace) * (1.0 - p)
            return dropout(input, p, training, inplace)
        return scaled
    _patch("dropout", make)


@mutant("attn_sdpa_not_rescaled", "need_weights=False: scaled_dot_product_attention keeps the weights unscaled "
        "(its output, linear in them, times 1 - p)")
def _():
    def make(sdpa):
        def unscaled(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
            out = sdpa(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale,
                       enable_gqa=enable_gqa)
            if dropout_p > 0:
                hit()
                return out * (1.0 - dropout_p)
            return out
        return unscaled
    F.scaled_dot_product_attention = make(F.scaled_dot_product_attention)   # a builtin: no signature to bind


@mutant("attn_fast_path_no_out_bias", "the inference fast path (_native_multi_head_attention) drops the output bias")
def _():
    def make(native):
        def fast(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight, proj_bias, *rest, **kw):
            hit()
            return native(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight,
                          torch.zeros_like(proj_bias), *rest, **kw)
        return fast
    _torch_function("_native_multi_head_attention", make)


@mutant("encoder_fast_path_no_ffn_bias", "TransformerEncoderLayer's fast path (_transformer_encoder_layer_fwd) "
        "drops the feed-forward output bias (linear2.bias)")
def _():
    def make(native):
        def fast(*args, **kw):
            hit()
            args = list(args)
            args[17] = torch.zeros_like(args[17])
            return native(*args, **kw)
        return fast
    _torch_function("_transformer_encoder_layer_fwd", make)
