"""Equinox bugs both BatchNorm modes share (the lines of _stats and _norm) and Dropout's, imported by equinox_bugs
(mode "batch") and equinox_ema_bugs (mode "ema"). Each is a one-line source edit of ``eqx.nn.BatchNorm.__call__``
or ``eqx.nn.Dropout.__call__`` (kit.edit; read against equinox 0.13.0 to 0.13.8, where the methods are the same)."""
from benchmarks.mutants.kit import edited

BN, DROPOUT = "equinox.nn.BatchNorm.__call__", "equinox.nn.Dropout.__call__"

edited("bn_eps_outside_sqrt", BN, ("out = (y - m) / jnp.sqrt(v + self.eps)", "out = _hit((y - m) / (jnp.sqrt(v) + self.eps))"))
edited("bn_variance_uncentred", BN, ("var = jnp.mean((y - mean) * jnp.conj(y - mean))", "var = _hit(jnp.mean(y * jnp.conj(y)))"))
edited("bn_unbiased_variance", BN, ("var = jnp.maximum(0.0, var)",
                                    "var = _hit(jnp.maximum(0.0, var) * (lambda n: n / (n - 1))(lax.psum(y.size, self.axis_name)))"))
edited("bn_affine_order", BN, ("out = out * w + b", "out = _hit((out + b) * w)"))

edited("do_inference_ignored", DROPOUT, ("inference = self.inference", "inference = _hit(False)"))
edited("do_unscaled", DROPOUT, ("return jnp.where(mask, x / q, 0)", "return _hit(jnp.where(mask, x, 0))"))
edited("do_keep_probability", DROPOUT, ("mask = jrandom.bernoulli(key, q, x.shape)", "mask = _hit(jrandom.bernoulli(key, 1 - q, x.shape))"))
edited("do_grad_unscaled", DROPOUT,
       ("return jnp.where(mask, x / q, 0)", "return _hit(jnp.where(mask, x + lax.stop_gradient(x / q - x), 0))"))
