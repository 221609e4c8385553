"""Bugs of Flax's attention, linen and nnx alike: each replaces ``dot_product_attention_weights`` of
flax.linen.attention and of flax.nnx.nn.attention (the softmax and the dropout of the weights; each module's
dot_product_attention looks it up at call time)."""
import jax

from benchmarks.mutants.kit import hit, mutant

WEIGHTS = ["flax.linen.attention.dot_product_attention_weights", "flax.nnx.nn.attention.dot_product_attention_weights"]


def _dropping(a) -> bool:
    return not a["deterministic"] and a["dropout_rate"] > 0


@mutant("attn_deterministic_ignored", *WEIGHTS, bind=True)
def _(original, **a):
    if hit(a["deterministic"] and a["dropout_rate"] > 0):
        a["deterministic"] = False
        a["dropout_rng"] = jax.random.key(0) if a["dropout_rng"] is None else a["dropout_rng"]
    return original(**a)


@mutant("attn_rate_complement", *WEIGHTS, bind=True)
def _(original, **a):
    if hit(_dropping(a)):
        a["dropout_rate"] = 1.0 - a["dropout_rate"]
    return original(**a)


@mutant("attn_not_rescaled", *WEIGHTS, bind=True)
def _(original, **a):
    return original(**a) * (1.0 - a["dropout_rate"]) if hit(_dropping(a)) else original(**a)


@mutant("attn_broadcast_flipped", *WEIGHTS, bind=True)
def _(original, **a):
    if hit(_dropping(a)):
        a["broadcast_dropout"] = not a["broadcast_dropout"]
    return original(**a)
