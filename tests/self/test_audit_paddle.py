"""layerconf audit on PaddlePaddle models (the paddle flavour's self-tests: specs/flavours/paddle.yaml, run alone:
paddle and other frameworks in one process can crash): the base kept in eval() by an overridden train(), the
model.train() mistake, a momentum copied from torch under the default step; the user's model left as it was."""
from pathlib import Path

import numpy as np
import pytest

paddle = pytest.importorskip("paddle", reason="paddle is not installed: the paddle audit's self-tests run in tox -e paddle")

from layerconf import specs  # noqa: E402
from layerconf.audit import command, paddlepaddle  # noqa: E402
from layerconf.audit.target import load  # noqa: E402
from layerconf.flavours import Flavour  # noqa: E402

TARGETS = Path(__file__).with_name("audit_targets.py")   # tox runs the flavour self-tests from elsewhere


def _audit(name):
    return command.audit("paddle", f"{TARGETS}:{name}")


def _hazards(doc):
    return {h["hazard"]: h for h in doc["hazards"]}


def test_recipe_keeps_the_base_in_inference():
    doc = _audit("paddle_recipe")
    assert [(layer["path"], layer["step"]["mode"], layer["step"]["measured_by"]) for layer in doc["layers"]] == [
        ("base.1", "inference", "output"), ("base.2", "inference", "output")]
    norm = doc["layers"][0]
    assert (norm["frozen"], norm["statistics_changed"], norm["weights_changed"], norm["layout"]) == (True, False, False, "NC")
    assert {s["word"]: s["value"] for s in norm["settings"]}["affine"] is True
    assert all(layer[p]["check"]["passed"] for layer in doc["layers"] for p in ("step", "inference"))
    assert doc["hazards"] == []


def test_train_after_base_eval_names_the_hazard():
    doc = _audit("paddle_mistake")
    norm, drop = doc["layers"]
    assert (norm["step"]["mode"], norm["step"]["measured_by"], norm["statistics_changed"], norm["frozen"]) == (
        "training", "output", True, True)
    assert (drop["step"]["mode"], drop["inference"]["mode"]) == ("training", "inference")
    assert all(layer[p]["check"]["passed"] for layer in doc["layers"] for p in ("step", "inference"))
    found = _hazards(doc)
    assert found.keys() == {"frozen_statistics_move", "inference_layer_training"}
    assert "call model.base.eval() after every model.train()" in found["frozen_statistics_move"]["fix"]


def test_momentum_from_torch_under_the_default_step():
    doc = _audit("paddle_torch_momentum")
    assert doc["step"].startswith("default")
    found = _hazards(doc)
    assert "momentum=0.9" in found["momentum_convention"]["fix"] and "epsilon=1e-06" in found["eps_below_resolution"]["fix"]


def test_the_users_model_is_unchanged():
    target = load(f"{TARGETS}:paddle_mistake")
    state = {k: v.numpy().copy() for k, v in target.model.state_dict().items()}
    modes = [layer.training for layer in target.model.sublayers(include_self=True)]
    paddlepaddle.observe(Flavour("paddle", specs.manifest("paddle"), specs.profile("paddle")), target)
    assert all(np.array_equal(state[k], v.numpy()) for k, v in target.model.state_dict().items())
    assert [layer.training for layer in target.model.sublayers(include_self=True)] == modes


def test_a_model_that_is_not_a_layer_exits_2(tmp_path, capsys):
    import argparse
    module = tmp_path / "targets.py"
    module.write_text("import numpy\n\ndef build():\n    return {'weights': 1}, numpy.zeros((2, 8))\n")
    assert command.execute(argparse.Namespace(flavour="paddle", target=f"{module}:build", json=False)) == 2
    assert "needs a paddle.nn.Layer as the model, got a builtins.dict" in capsys.readouterr().err


def test_expression():
    assert paddlepaddle.expression("base.1") == "model.base[1]" and paddlepaddle.expression("") == "model"
