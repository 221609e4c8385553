"""layerconf audit on Equinox models (the equinox flavour's self-tests: specs/flavours/equinox.yaml): (model, state,
forward) with the base kept in inference after eqx.nn.inference_mode(model, value=False), the mistake without it, a
momentum copied from torch under the default step; the user's pair and the eqx.nn classes left as they were."""
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("equinox", reason="equinox is not installed: the equinox audit's self-tests run in tox -e equinox")
pytest.importorskip("optax", reason="optax is not installed")

import equinox as eqx  # noqa: E402
import jax  # noqa: E402

from layerconf import specs  # noqa: E402
from layerconf.audit import command, equinox  # noqa: E402
from layerconf.audit.target import load  # noqa: E402
from layerconf.flavours import Flavour  # noqa: E402

TARGETS = Path(__file__).with_name("audit_targets.py")   # tox runs the flavour self-tests from elsewhere


def _audit(name):
    return command.audit("equinox", f"{TARGETS}:{name}")


def _hazards(doc):
    return {h["hazard"]: h for h in doc["hazards"]}


def _modes(doc, name):
    return [(layer["path"], layer[name]["mode"], layer[name]["measured_by"]) for layer in doc["layers"]]


def test_recipe_keeps_the_base_in_inference():
    doc = _audit("equinox_recipe")
    assert _modes(doc, "step") == [("base.layers[1]", "inference", "statistics"), ("base.layers[2]", "inference", "flag")]
    norm = doc["layers"][0]
    assert (norm["frozen"], norm["statistics_changed"], norm["weights_changed"]) == (True, False, False)
    assert doc["hazards"] == []


def test_inference_mode_false_without_the_base_names_the_hazard():
    doc = _audit("equinox_mistake")
    assert _modes(doc, "step") == [("base.layers[1]", "training", "statistics"), ("base.layers[2]", "training", "flag")]
    assert _modes(doc, "inference") == [("base.layers[1]", "inference", "statistics"), ("base.layers[2]", "inference", "flag")]
    assert (doc["layers"][0]["statistics_changed"], doc["layers"][0]["frozen"]) == (True, True)
    found = _hazards(doc)
    assert found.keys() == {"frozen_statistics_move", "inference_layer_training"}
    assert "eqx.tree_at(lambda model: model.base, model, eqx.nn.inference_mode(model.base))" in \
        found["frozen_statistics_move"]["fix"]


def test_momentum_from_torch_under_the_default_step():
    doc = _audit("equinox_torch_momentum")
    assert doc["step"].startswith("default") and doc["layers"][0]["weights_changed"] is True
    assert "momentum=0.9" in _hazards(doc)["momentum_convention"]["fix"]


def test_the_users_pair_and_classes_are_unchanged():
    target = load(f"{TARGETS}:equinox_mistake")
    leaves = [np.asarray(a) for a in jax.tree.leaves(target.model[:2])]
    calls = (eqx.nn.BatchNorm.__call__, eqx.nn.Dropout.__call__)
    equinox.observe(Flavour("equinox", specs.manifest("equinox"), specs.profile("equinox")), target)
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(leaves, jax.tree.leaves(target.model[:2]), strict=True))
    assert target.model[0].base.layers[1].inference is True
    assert (eqx.nn.BatchNorm.__call__, eqx.nn.Dropout.__call__) == calls


def test_a_model_without_its_state_exits_2(tmp_path, capsys):
    import argparse
    module = tmp_path / "targets.py"
    module.write_text("import equinox as eqx, numpy\n\ndef build():\n    return eqx.nn.Dropout(0.5), numpy.zeros((2, 8))\n")
    assert command.execute(argparse.Namespace(flavour="equinox", target=f"{module}:build", json=False)) == 2
    assert "needs (model, state) or (model, state, forward)" in capsys.readouterr().err


def test_expression():
    assert equinox.expression("base.layers[1]") == "model.base.layers[1]" and equinox.expression("") == "model"
