"""Equinox's BatchNorm(mode="ema") (the equinox-ema flavour): _equinox's bugs and one-line edits of the lines only
mode "ema" runs (_batch_norm.py L224-L240 of v0.13.8)."""
from benchmarks.mutants._equinox import BN
from benchmarks.mutants.kit import edited

edited("bn_ema_output_batch_stats", BN,
       ("state = state.set(self.ema_state_index, (mean, var))",
        "state = state.set(self.ema_state_index, (mean, var)); mean, var = _hit((batch_mean, batch_var))"))
edited("bn_ema_momentum_reversed", BN,
       ("mean = (1 - momentum) * batch_mean + momentum * running_mean",
        "mean = _hit(momentum * batch_mean + (1 - momentum) * running_mean)"),
       ("var = (1 - momentum) * batch_var + momentum * running_var", "var = momentum * batch_var + (1 - momentum) * running_var"))
edited("bn_ema_first_time_ignored", BN,
       ("mean = lax.select(first_time, batch_mean, mean)", "mean = _hit(mean)"),
       ("var = lax.select(first_time, batch_var, var)", "var = var"))
edited("bn_ema_first_time_kept", BN,
       ("state = state.set(self.ema_first_time_index, jnp.array(False))",
        "state = state.set(self.ema_first_time_index, _hit(first_time))"))
edited("bn_ema_stats_constant", BN,
       ("batch_mean, batch_var = jax.vmap(_stats)(x)", "batch_mean, batch_var = _hit(lax.stop_gradient(jax.vmap(_stats)(x)))"))
