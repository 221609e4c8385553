"""layerconf audit on Flax nnx models (the flax-nnx flavour's self-tests: specs/flavours/flax-nnx.yaml): the base
kept in eval() after model.train(), the model.train() mistake eagerly and under nnx.jit, a momentum copied from torch
under the default step; the user's model and the nnx classes left as they were."""
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flax.nnx", reason="flax is not installed: the flax-nnx audit's self-tests run in tox -e flax-nnx")
pytest.importorskip("optax", reason="optax is not installed")

from flax import nnx  # noqa: E402

from layerconf import specs  # noqa: E402
from layerconf.audit import command, flax_nnx  # noqa: E402
from layerconf.audit.target import load  # noqa: E402
from layerconf.flavours import Flavour  # noqa: E402

TARGETS = Path(__file__).with_name("audit_targets.py")


def _audit(name):
    return command.audit("flax-nnx", f"{TARGETS}:{name}")


def _hazards(doc):
    return {h["hazard"]: h for h in doc["hazards"]}


def test_recipe_keeps_the_base_in_inference():
    doc = _audit("nnx_recipe")
    assert [(layer["path"], layer["step"]["mode"], layer["step"]["measured_by"]) for layer in doc["layers"]] == [
        ("base.layers.1", "inference", "output"), ("base.layers.2", "inference", "output")]
    assert doc["layers"][0]["frozen"] is True and doc["layers"][0]["statistics_changed"] is False
    assert all(layer[p]["check"]["passed"] for layer in doc["layers"] for p in ("step", "inference"))
    assert doc["hazards"] == []


@pytest.mark.parametrize("name, how", [("nnx_mistake", "output"), ("nnx_mistake_jit", "statistics")])
def test_train_after_base_eval_names_the_hazard(name, how):
    doc = _audit(name)
    norm = doc["layers"][0]
    assert (norm["step"]["mode"], norm["step"]["measured_by"], norm["statistics_changed"], norm["frozen"]) == (
        "training", how, True, True)
    found = _hazards(doc)
    assert found.keys() == {"frozen_statistics_move", "inference_layer_training"}
    assert "call model.base.layers.eval() after every model.train()" in found["frozen_statistics_move"]["fix"]


def test_momentum_from_torch_under_the_default_step():
    doc = _audit("nnx_torch_momentum")
    assert doc["step"].startswith("default") and doc["layers"][0]["frozen"] is False
    assert "momentum=0.9" in _hazards(doc)["momentum_convention"]["fix"]


def _arrays(model) -> list:
    """Every variable of the model as NumPy, PRNG keys by their data."""
    import jax
    return [np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x)
            for x in jax.tree.leaves(nnx.state(model))]


def test_the_users_model_is_unchanged():
    target = load(f"{TARGETS}:nnx_mistake")
    state = _arrays(target.model)
    calls = (nnx.BatchNorm.__call__, nnx.Dropout.__call__)
    flax_nnx.observe(Flavour("flax-nnx", specs.manifest("flax-nnx"), specs.profile("flax-nnx")), target)
    assert all(np.array_equal(a, b) for a, b in zip(state, _arrays(target.model), strict=True))
    assert target.model.base.layers[1].use_running_average is True
    assert not any(hasattr(node, flax_nnx.TAG) for _, node in nnx.iter_graph(target.model))
    assert (nnx.BatchNorm.__call__, nnx.Dropout.__call__) == calls


def test_expression():
    assert flax_nnx.expression("base.layers.1") == "model.base.layers[1]" and flax_nnx.expression("") == "model"
