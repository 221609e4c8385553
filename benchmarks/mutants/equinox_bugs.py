"""Semantic bugs injected into Equinox's BatchNorm(mode="batch") (the equinox and equinox-jit flavours): the
mutants of _equinox (shared lines, Dropout) and those of the lines only mode "batch" runs."""
from benchmarks.mutants import mutant
from benchmarks.mutants._equinox import bn

# ---------------------------------------------------------------- BatchNorm, mode "batch"

@mutant("bn_momentum_reversed", "running update weights the batch by momentum (PyTorch's meaning in an Equinox layer)")
def _():
    bn(("new_hidden_mean = hidden_mean * self.momentum + mean * ( 1 - self.momentum )",
        "new_hidden_mean = _hit(hidden_mean * (1 - self.momentum) + mean * self.momentum)"),
       ("new_hidden_var = hidden_var * self.momentum + var * (1 - self.momentum)",
        "new_hidden_var = hidden_var * (1 - self.momentum) + var * self.momentum"))


@mutant("bn_running_var_stale", "the running variance is never updated (the new mean is, the variance keeps its old value)")
def _():
    bn(("new_hidden_var = hidden_var * self.momentum + var * (1 - self.momentum)", "new_hidden_var = _hit(hidden_var)"))


@mutant("bn_eval_batch_stats", "inference normalises with the batch statistics (running statistics left alone)")
def _():
    bn(("mean = hidden_mean / scale var = hidden_var / scale",
        "mean, var = _hit(jax.vmap(_stats)(x))"))


@mutant("bn_debias_unguarded", "inference divides by 1 - momentum^k also for k = 0 training steps (equinox#1010, before its fix)")
def _():
    bn(("scale = jnp.where(counter == 0, 1, 1 - self.momentum**counter)", "scale = _hit(1 - self.momentum**counter)"))


@mutant("bn_stats_constant", "training treats the batch statistics as constants (no gradient through mean and variance)")
def _():
    bn(("mean, var = jax.vmap(_stats)(x)", "mean, var = _hit(lax.stop_gradient(jax.vmap(_stats)(x)))"))
