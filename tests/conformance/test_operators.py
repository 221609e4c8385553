"""Operator-level behaviours (specs/behaviours/operators.yaml): operator versions, the mask output, seed arguments."""
import numpy as np
import pytest

from layerconf.reference import dropout as ref_dropout
from layerconf.reference.dtypes import as_dtype

from . import draw
from .helpers import DECAY, EPS, reference_model, set_all

behaviour = pytest.mark.behaviour


@behaviour("bn.opset.round_trip")
def test_opset_round_trip(case, adapter, profile, check, rng):
    layout, dtype = case["layout"], case["dtype"]
    native = profile.native("batchnorm", eps=EPS, decay=DECAY, opset=case["opset"])
    layer = adapter.batchnorm(layout, 3, dtype, **native)
    s = set_all(layer, rng, case, 3)
    model = reference_model(profile, case, **s)
    batches = [draw.batch(rng, layout, dtype, n, 3, 3) for n in (4, 6)]
    for k, x in enumerate(batches):
        check.close(f"y in training step {k + 1}", layer.forward(x, training=True), model.forward(x, training=True))
    state = layer.state()
    check.close("running_mean", state["running_mean"], model.running_mean)
    check.close("running_var", state["running_var"], model.running_var)
    x = draw.batch(rng, layout, dtype, 5, 3, 3)
    held = reference_model(profile, case, gamma=s["gamma"], beta=s["beta"], running_mean=state["running_mean"],
                           running_var=state["running_var"])   # the statistics as the framework stores them
    check.close("y in inference", layer.forward(x, training=False), held.forward(x, training=False))


@behaviour("do.mask.output")
def test_mask_output(case, adapter, profile, check, rng):
    rate, dtype = case["rate"], case["dtype"]
    x = draw.nonzero(rng, (64, 64), dtype)
    layer = adapter.dropout("element", "NC", dtype, **profile.native("dropout", rate=rate))
    y, mask = layer.forward_with_mask(x, training=True)
    check.true("mask type", np.asarray(mask).dtype == bool and mask.shape == x.shape,
               f"expected a boolean mask of shape {x.shape}, got {np.asarray(mask).dtype} {np.shape(mask)}")
    check.equal("mask == (y != 0)", mask, np.asarray(y) != 0)
    check.true("some dropped and some kept", 0 < np.count_nonzero(mask) < x.size,
               f"{np.count_nonzero(mask)} of {x.size} kept at rate {rate}")
    check.close("y", y, ref_dropout.output(x, mask, rate), dtype=dtype)
    y_eval, mask_eval = layer.forward_with_mask(x, training=False)
    check.equal("y in inference", y_eval, as_dtype(x, dtype))
    check.equal("mask in inference", mask_eval, np.ones(x.shape, dtype=bool))


@behaviour("do.seed.argument")
def test_seed_argument(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (64, 64), "float32")

    def first_mask(seed):
        layer = adapter.dropout("element", "NC", "float32", **profile.native("dropout", rate=case["rate"], seed=seed))
        return layer.forward(x, training=True) != 0

    check.equal("masks of two layers with seed 7", first_mask(7), first_mask(7))
    check.true("seed 8 differs from seed 7", not np.array_equal(first_mask(7), first_mask(8)),
               f"seeds 7 and 8 drew the same mask of {x.size} elements")
