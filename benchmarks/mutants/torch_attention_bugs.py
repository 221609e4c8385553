"""Bugs of PyTorch's multi-head attention: nn.MultiheadAttention.forward calls F.multi_head_attention_forward, which
drops the softmax weights with F.dropout (need_weights=True) or passes dropout_p to F.scaled_dot_product_attention
(need_weights=False); in eval under no_grad it calls torch._native_multi_head_attention, and
nn.TransformerEncoderLayer torch._transformer_encoder_layer_fwd. Each mutant replaces one of these (looked up at
call time)."""
import torch
import torch.nn.functional as F

from benchmarks.mutants.kit import hit, mutant
from benchmarks.mutants.torch_bugs import DROPOUT, functional

MHA = (F, "multi_head_attention_forward")


@functional("attn_dropout_in_eval", MHA)
def _(original, **a):
    if hit(not a["training"] and a["dropout_p"] > 0):
        a["training"] = True
    return original(**a)


@functional("attn_rate_complement", MHA)
def _(original, **a):
    if hit(a["training"] and a["dropout_p"] > 0):
        a["dropout_p"] = 1.0 - a["dropout_p"]
    return original(**a)


@functional("attn_dropout_on_output", MHA)
def _(original, **a):
    p = a["dropout_p"]
    if not hit(a["training"] and p > 0):
        return original(**a)
    out, weights = original(**{**a, "dropout_p": 0.0})
    return F.dropout(out, p, True), weights


@functional("attn_weights_not_rescaled", DROPOUT)
def _(dropout, input, p, training, inplace):
    y = dropout(input, p, training, inplace)
    return y * (1.0 - p) if hit(training and p > 0 and input.dim() == 3) else y   # the (N H, L, S) weights


@mutant("attn_sdpa_not_rescaled", (F, "scaled_dot_product_attention"))   # a builtin: no signature to bind
def _(sdpa, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    out = sdpa(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale, enable_gqa=enable_gqa)
    return out * (1.0 - dropout_p) if hit(dropout_p > 0) else out


@mutant("attn_fast_path_no_out_bias", (torch, "_native_multi_head_attention"))
def _(native, query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight, proj_bias, *rest, **kw):
    hit()
    return native(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight, torch.zeros_like(proj_bias), *rest, **kw)


@mutant("encoder_fast_path_no_ffn_bias", (torch, "_transformer_encoder_layer_fwd"))
def _(native, *args, **kw):
    hit()
    args = list(args)
    args[17] = torch.zeros_like(args[17])   # linear2.bias
    return native(*args, **kw)
