"""Operator-level behaviours (specs/behaviours/operators.yaml): operator versions, the forms a graph may give
their parameters and optional outputs, the mask output, seed arguments."""
import numpy as np
import pytest

from layerconf.reference import dropout as ref_dropout
from layerconf.reference.batchnorm import per_activation
from layerconf.reference.dtypes import as_dtype
from layerconf.reference.layout import shape_of

from . import draw
from .helpers import DECAY, EPS, reference_model, set_all
from .layers import make_layer
from .test_dropout import STAT_ELEMENTS

behaviour = pytest.mark.behaviour


@behaviour("bn.opset.round_trip")
def test_opset_round_trip(case, adapter, profile, check, rng):
    layout, dtype = case["layout"], case["dtype"]
    native = profile.native("batchnorm", eps=EPS, decay=DECAY, opset=case["opset"], parameters=case["parameters"])
    layer = make_layer(adapter, profile, "batchnorm", dtype, layout=layout, channels=3, native=native)
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


@behaviour("bn.opset.inference")
def test_opset_inference(case, adapter, profile, check, rng):
    layout, dtype = case["layout"], case["dtype"]
    native = profile.native("batchnorm", eps=EPS, decay=DECAY, opset=case["opset"], parameters=case["parameters"])
    layer = make_layer(adapter, profile, "batchnorm", dtype, layout=layout, channels=3, native=native)
    model = reference_model(profile, case, **set_all(layer, rng, case, 3))
    x = draw.batch(rng, layout, dtype, 5, 3, 3)
    check.close("y in inference", layer.forward(x, training=False), model.forward(x, training=False))


@behaviour("bn.outputs.running")
def test_running_outputs(case, adapter, profile, check, rng):
    layout, dtype, returned = case["layout"], case["dtype"], case["outputs"] in ("graph", "identity")
    native = profile.native("batchnorm", eps=EPS, decay=DECAY, opset=case["opset"], outputs=case["outputs"])
    # fresh: gamma 1, beta 0, mean 0, var 1
    layer = make_layer(adapter, profile, "batchnorm", dtype, layout=layout, channels=3, native=native)
    model = reference_model(profile, case, **layer.state())
    x = draw.batch(rng, layout, dtype, 4, 3, 3)
    for run in (1, 2):     # two runs of one model: a run that leaks into the next shows in the second
        check.close(f"y in training run {run}", layer.forward(x, training=True), model.output(x, training=True))
        if returned:       # the layer holds what came back; without outputs nothing can have changed
            model.update(x)
        state = layer.state()
        check.close(f"running_mean after run {run}", state["running_mean"], model.running_mean)
        check.close(f"running_var after run {run}", state["running_var"], model.running_var)


def _per_activation(case, adapter, profile, rng):
    """A spatial=0 node holding drawn state of shape (C, D1, ..., Dn), the reference beside it (the per-channel model
    over ``per_activation(x)``, layout NC: each activation a channel), and the draw of a batch of n (per activation
    standardized over the batch, as draw.batch does per channel)."""
    layout, dtype = case["layout"], case["dtype"]
    shape = shape_of(layout, 1, 3, 3)[1:]
    size = int(np.prod(shape))
    native = profile.native("batchnorm", eps=EPS, decay=DECAY, opset=case["opset"], parameters=case["parameters"],
                            statistics="per_activation")
    layer = make_layer(adapter, profile, "batchnorm", dtype, layout=layout, channels=3, native=native)
    (gamma, beta), (mean, var) = draw.affine(rng, size, dtype), draw.running(rng, size, dtype)
    state = {"gamma": gamma, "beta": beta, "running_mean": mean, "running_var": var}
    layer.set_state(**{key: value.reshape(shape) for key, value in state.items()})
    return layer, reference_model(profile, {"layout": "NC"}, **state), lambda n: draw.batch(rng, "NC", dtype, n, size).reshape(n, *shape)


@behaviour("bn.spatial.inference")
def test_spatial_inference(case, adapter, profile, check, rng):
    layer, model, batch = _per_activation(case, adapter, profile, rng)
    x = batch(5)
    check.close("y in inference", layer.forward(x, training=False), model.forward(per_activation(x), training=False).reshape(x.shape))


@behaviour("bn.spatial.round_trip")
def test_spatial_round_trip(case, adapter, profile, check, rng):
    layer, model, batch = _per_activation(case, adapter, profile, rng)
    for k, x in enumerate([batch(4), batch(6)]):
        y = model.forward(per_activation(x), training=True).reshape(x.shape)
        check.close(f"y in training step {k + 1}", layer.forward(x, training=True), y)
    state, shape = layer.state(), x.shape[1:]     # running statistics of shape (C, D1, ..., Dn)
    check.close("running_mean", state["running_mean"], model.running_mean.reshape(shape))
    check.close("running_var", state["running_var"], model.running_var.reshape(shape))
    x = batch(5)
    held = reference_model(profile, {"layout": "NC"}, gamma=model.gamma, beta=model.beta,
                           running_mean=state["running_mean"].ravel(), running_var=state["running_var"].ravel())
    check.close("y in inference", layer.forward(x, training=False), held.forward(per_activation(x), training=False).reshape(x.shape))


def _dropout(adapter, profile, dtype="float32", **neutral):
    return make_layer(adapter, profile, "dropout", dtype, layout="NC", kind="element", **neutral)


@behaviour("do.opset.inference")
def test_dropout_opset_inference(case, adapter, profile, check, rng):
    x = draw.nonzero(rng, (64, 64), case["dtype"])
    layer = _dropout(adapter, profile, case["dtype"], rate=0.2, opset=case["opset"], outputs=case["outputs"],
                     training_input="absent")
    y, mask = layer.forward_with_mask(x, training=False)
    check.equal("y", y, as_dtype(x, case["dtype"]))
    if case["outputs"] in ("graph", "identity"):
        check.equal("mask", np.asarray(mask).astype(np.float64), np.ones(x.shape))


@behaviour("do.opset.training")
def test_dropout_opset_training(case, adapter, profile, check, rng):
    _dropout_training(case, adapter, profile, check, rng, parameters=case["parameters"], outputs="graph")


@behaviour("do.outputs.mask")
def test_dropout_mask_outputs(case, adapter, profile, check, rng):
    _dropout_training(case, adapter, profile, check, rng, parameters="initializers", outputs=case["outputs"])


def _dropout_training(case, adapter, profile, check, rng, parameters, outputs):
    """One training run of the case's Dropout node: y and the returned mask against the reference, and the
    binomial test of the drop count at the ratio (the spec's default 0.5 where the ratio input is absent)."""
    rate = 0.5 if parameters == "absent" else 0.2
    x = draw.nonzero(rng, (STAT_ELEMENTS // 100, 100), "float32")
    layer = _dropout(adapter, profile, rate=0.2, opset=case["opset"], parameters=parameters, outputs=outputs)
    y, mask = layer.forward_with_mask(x, training=True)
    kept = np.asarray(y) != 0
    if outputs in ("graph", "identity"):
        check.equal("mask == (y != 0)", mask, kept)
    check.close("y", y, ref_dropout.output(x, kept, rate), dtype="float32")
    check.rate("dropped elements", int(np.count_nonzero(~kept)), x.size, rate, observe="drop")


@behaviour("do.mask.output")
def test_mask_output(case, adapter, profile, check, rng):
    rate, dtype = case["rate"], case["dtype"]
    x = draw.nonzero(rng, (64, 64), dtype)
    layer = make_layer(adapter, profile, "dropout", dtype, layout="NC", kind="element", rate=rate)
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
        layer = make_layer(adapter, profile, "dropout", "float32", layout="NC", kind="element", rate=case["rate"], seed=seed)
        return layer.forward(x, training=True) != 0

    check.equal("masks of two layers with seed 7", first_mask(7), first_mask(7))
    check.true("seed 8 differs from seed 7", not np.array_equal(first_mask(7), first_mask(8)),
               f"seeds 7 and 8 drew the same mask of {x.size} elements")
