"""Semantic bugs injected into Equinox's BatchNorm(mode="ema") (the equinox-ema flavour): the mutants of _equinox
(shared lines, Dropout) and those of the lines only mode "ema" runs (_batch_norm.py L224-L240 of v0.13.8)."""
from benchmarks.mutants import mutant
from benchmarks.mutants._equinox import bn

# ---------------------------------------------------------------- BatchNorm, mode "ema"

@mutant("bn_ema_output_batch_stats", "training normalises with the batch statistics, not the updated running ones")
def _():
    bn(("state = state.set(self.ema_state_index, (mean, var))",
        "state = state.set(self.ema_state_index, (mean, var)); mean, var = _hit((batch_mean, batch_var))"))


@mutant("bn_ema_momentum_reversed", "the update weights the batch by momentum (PyTorch's meaning in an Equinox layer)")
def _():
    bn(("mean = (1 - momentum) * batch_mean + momentum * running_mean",
        "mean = _hit(momentum * batch_mean + (1 - momentum) * running_mean)"),
       ("var = (1 - momentum) * batch_var + momentum * running_var",
        "var = momentum * batch_var + (1 - momentum) * running_var"))


@mutant("bn_ema_first_time_ignored", "the first training call averages the batch with the uninitialised (zero) statistics")
def _():
    bn(("mean = lax.select(first_time, batch_mean, mean)", "mean = _hit(mean)"),
       ("var = lax.select(first_time, batch_var, var)", "var = var"))


@mutant("bn_ema_first_time_kept", "the first-time flag is never cleared: every training call stores the batch statistics")
def _():
    bn(("state = state.set(self.ema_first_time_index, jnp.array(False))",
        "state = state.set(self.ema_first_time_index, _hit(first_time))"))


@mutant("bn_ema_stats_constant", "training treats the batch statistics as constants (no gradient through them)")
def _():
    bn(("batch_mean, batch_var = jax.vmap(_stats)(x)",
        "batch_mean, batch_var = _hit(lax.stop_gradient(jax.vmap(_stats)(x)))"))
