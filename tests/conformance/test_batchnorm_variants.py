"""BatchNorm variants (specs/behaviours/batchnorm_variants.yaml): a synchronised BatchNorm run in one process and a
lazy BatchNorm after its first call, each against the BatchNorm reference under the profile's batchnorm conventions."""
import numpy as np
import pytest

from layerconf.reference.models import BatchNorm

from . import draw
from .helpers import DECAY, EPS, conventions, reference_model, set_all
from .layers import make_layer

behaviour = pytest.mark.behaviour


@behaviour("bn.variants.sync_single_process")
def test_sync_single_process(case, adapter, profile, check, rng):
    layer = make_layer(adapter, profile, "batchnorm_variants", case["dtype"], layout=case["layout"], channels=3,
                         kind="sync", native=profile.native("batchnorm", eps=EPS, decay=DECAY))
    model = reference_model(profile, case, **set_all(layer, rng, case, 3))
    for step, n in enumerate((3, 5, 8)[: case["steps"]], start=1):
        x = draw.batch(rng, case["layout"], case["dtype"], n, 3, 3)
        check.close(f"y (step {step})", layer.forward(x, training=True), model.forward(x, training=True))
        state = layer.state()
        check.close(f"running_mean (step {step})", state["running_mean"], model.running_mean)
        check.close(f"running_var (step {step})", state["running_var"], model.running_var)
    x = draw.batch(rng, case["layout"], case["dtype"], 4, 3, 3)
    check.close("y (inference)", layer.forward(x, training=False), model.forward(x, training=False))


@behaviour("bn.variants.lazy_first_call")
def test_lazy_first_call(case, adapter, profile, check, rng):
    channels, defaults, initial = 5, profile.get("batchnorm.defaults"), profile.get("batchnorm.initial")
    layer = make_layer(adapter, profile, "batchnorm_variants", case["dtype"], layout=case["layout"], kind="lazy")
    model = BatchNorm(defaults["eps"], defaults["decay"], case["layout"], conventions(profile), fresh=True,
                      **{k: np.full(channels, v) for k, v in initial.items()})
    x = draw.batch(rng, case["layout"], case["dtype"], 4, channels, 3)
    check.close("y (first call)", layer.forward(x, training=True), model.forward(x, training=True))
    state = layer.state()
    for key in ("running_mean", "running_var", "gamma", "beta"):
        check.close(f"{key} after the first call", state[key], getattr(model, key))
    x = draw.batch(rng, case["layout"], case["dtype"], 4, channels, 3)
    check.close("y (inference)", layer.forward(x, training=False), model.forward(x, training=False))
