"""Equinox's BatchNorm(mode="batch") (the equinox and equinox-jit flavours): _equinox's bugs and one-line edits of
the lines only mode "batch" runs."""
from benchmarks.mutants._equinox import BN
from benchmarks.mutants.kit import edited

edited("bn_momentum_reversed", BN,
       ("new_hidden_mean = hidden_mean * self.momentum + mean * ( 1 - self.momentum )",
        "new_hidden_mean = _hit(hidden_mean * (1 - self.momentum) + mean * self.momentum)"),
       ("new_hidden_var = hidden_var * self.momentum + var * (1 - self.momentum)",
        "new_hidden_var = hidden_var * (1 - self.momentum) + var * self.momentum"))
edited("bn_running_var_stale", BN,
       ("new_hidden_var = hidden_var * self.momentum + var * (1 - self.momentum)", "new_hidden_var = _hit(hidden_var)"))
edited("bn_eval_batch_stats", BN, ("mean = hidden_mean / scale var = hidden_var / scale", "mean, var = _hit(jax.vmap(_stats)(x))"))
edited("bn_debias_unguarded", BN,
       ("scale = jnp.where(counter == 0, 1, 1 - self.momentum**counter)", "scale = _hit(1 - self.momentum**counter)"))
edited("bn_stats_constant", BN, ("mean, var = jax.vmap(_stats)(x)", "mean, var = _hit(lax.stop_gradient(jax.vmap(_stats)(x)))"))
