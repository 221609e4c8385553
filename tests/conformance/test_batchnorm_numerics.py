"""BatchNorm numerics (specs/behaviours/batchnorm_numerics.yaml): inputs that expose cancellation."""
import pytest

from layerconf.reference.dtypes import quantize

from . import draw
from .helpers import DECAY, EPS, build, reference_model, set_affine

behaviour = pytest.mark.behaviour
OFFSET = 1.0e4   # mean / spread ~ 1e4: E[x^2] - E[x]^2 loses ~8 of float64's 16 digits, a two-pass variance none


@behaviour("bn.train.offset_data")
def test_train_offset_data(case, adapter, profile, check, rng):
    x = quantize(OFFSET + draw.batch(rng, case["layout"], case["dtype"], 8, 3, 4), case["dtype"])
    layer = build(adapter, profile, case, 3, eps=EPS, decay=DECAY)
    gamma, beta = set_affine(layer, rng, case, 3)
    check.close("y", layer.forward(x, training=True), reference_model(profile, case, gamma=gamma, beta=beta).forward(x, training=True))
