"""Framework-neutral helpers of the BatchNorm tests: the layer a case builds and the state it starts from."""
from hypothesis import HealthCheck, Phase, settings

from layerconf.reference.dtypes import as_dtype

from . import draw

# Hypothesis in the suite: draws seeded per check from --seed by the plugin, no example database (every
# draw derives from the seed), no shrinking (a failing draw is reported as drawn: shrinking re-ran the layer
# on dozens of new shapes, each a new compilation under JAX, for an outcome already known).
SUITE = settings(database=None, deadline=None, print_blob=True, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                 suppress_health_check=[HealthCheck.function_scoped_fixture])

# Explicit eps and decay where they are not under test; exact in float32, so a layer holding its
# arguments in float32 (profile batchnorm.arguments_dtype) holds these values exactly.
EPS = 2.0**-10
DECAY = 0.75
LR = 0.5


def build(adapter, profile, case, channels, **neutral):
    """The case's layer; neutral parameters spelt the framework's way by its profile."""
    return adapter.batchnorm(case["layout"], channels, case.params.get("dtype", "float32"),
                             **profile.native("batchnorm", **neutral))


def correction(profile):
    return profile.get("batchnorm.running_var_correction")


def held(profile, value):
    """eps or decay as the layer holds it: rounded to the profile's batchnorm.arguments_dtype, if any."""
    dtype = profile.get("batchnorm.arguments_dtype")
    return value if dtype is None else float(as_dtype(value, dtype))


def set_affine(layer, rng, case, channels):
    gamma, beta = draw.affine(rng, channels, case.params.get("dtype", "float32"))
    layer.set_state(gamma=gamma, beta=beta)
    return gamma, beta


def set_all(layer, rng, case, channels):
    """Non-trivial gamma, beta, running mean and variance; returns them as a dict."""
    dtype = case.params.get("dtype", "float32")
    gamma, beta = draw.affine(rng, channels, dtype)
    mean, var = draw.running(rng, channels, dtype)
    state = {"gamma": gamma, "beta": beta, "running_mean": mean, "running_var": var}
    layer.set_state(**state)
    return state
