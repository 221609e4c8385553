"""Framework-neutral helpers of the BatchNorm tests: the layer a case builds, the state it starts from, the
reference model beside it under the profile's conventions, and the batches it trains on."""
import numpy as np
from hypothesis import HealthCheck, Phase, settings

from layerconf.reference.dtypes import quantize
from layerconf.reference.layout import reduction_axes
from layerconf.reference.models import BatchNorm, Conventions

from . import draw
from .layers import make_layer

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
    return make_layer(adapter, profile, "batchnorm", case.params.get("dtype", "float32"), layout=case["layout"],
                        channels=channels, **neutral)


def conventions(profile):
    """The profile's conventions the reference follows; read at each call, since a rerun overrides the profile."""
    return Conventions(profile.get("batchnorm.running_var_correction"), profile.get("batchnorm.arguments_dtype"),
                       profile.get("batchnorm.update_weight_dtype"), profile.get("batchnorm.scalars_dtype"),
                       profile.get("batchnorm.training_statistics"))


def reference_model(profile, case, *, eps=EPS, decay=DECAY, fresh=None, **state):
    """The reference BatchNorm of the case's layer holding ``state`` (gamma, beta, running_mean, running_var;
    the others at 1, 0, 0, 1; running statistics None: none); fresh (default: no running statistics given): the
    layer has not been trained nor had its running statistics set."""
    fresh = "running_mean" not in state if fresh is None else fresh
    return BatchNorm(eps, decay, case["layout"], conventions(profile), fresh=fresh, **state)


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


def small_batch(rng, case, eps):
    """A batch with variance ~ eps per channel (8 x 3 x 4^k), its batch mean ~0: the output shows eps, and no
    cancellation in a one-pass variance (that is bn.train.offset_data's concern)."""
    x = draw.batch(rng, case["layout"], case["dtype"], 8, 3, 4, scale=np.sqrt(eps))
    return quantize(x - x.mean(axis=reduction_axes(case["layout"]), keepdims=True), case["dtype"])


def trajectory(layer, batches):
    """The state of ``layer`` (the framework's or the reference's) after each training step on ``batches`` (copies)."""
    states = []
    for x in batches:
        layer.forward(x, training=True)
        states.append({k: None if v is None else np.array(v) for k, v in layer.state().items()})
    return states


def train_steps(case, adapter, profile, rng, decay):
    """A layer with drawn running statistics trained k steps on batches of varying size; returns (layer, batches,
    its initial running statistics, its state after each step)."""
    layer = build(adapter, profile, case, 3, eps=EPS, decay=decay)
    mean0, var0 = draw.running(rng, 3, case["dtype"])
    layer.set_state(running_mean=mean0, running_var=var0)
    batches = [draw.batch(rng, case["layout"], case["dtype"], n, 3, 3) for n in (3, 5, 8, 2, 4)[: case["steps"]]]
    return layer, batches, {"running_mean": mean0, "running_var": var0}, trajectory(layer, batches)


def observe_trajectory(check, key, initial, states, expected):
    """Channel 0 of the running statistic, initially and after each step, the layer's and the reference's,
    for the report's plot."""
    check.observe(f"{key}_trajectory", [float(s[key][0]) for s in [initial, *states]])
    check.observe(f"{key}_reference", [float(s[key][0]) for s in [initial, *expected]])
