"""layerconf audit on MLX models (the mlx flavour's self-tests: specs/flavours/mlx.yaml): the base kept in eval()
after model.train(), the model.train() mistake eagerly and under mx.compile, a momentum copied from Keras under
the default step; the user's model and the mlx.nn classes left as they were."""
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mlx.core", reason="mlx is not installed: the mlx audit's self-tests run in tox -e mlx")

import mlx.nn as nn  # noqa: E402
from mlx.utils import tree_flatten  # noqa: E402

from layerconf import specs  # noqa: E402
from layerconf.audit import command, mlx_nn  # noqa: E402
from layerconf.audit.target import load  # noqa: E402
from layerconf.flavours import Flavour  # noqa: E402

TARGETS = Path(__file__).with_name("audit_targets.py")   # tox runs the flavour self-tests from elsewhere


def _audit(name):
    return command.audit("mlx", f"{TARGETS}:{name}")


def _hazards(doc):
    return {h["hazard"]: h for h in doc["hazards"]}


def test_recipe_keeps_the_base_in_inference():
    doc = _audit("mlx_recipe")
    assert [(layer["path"], layer["step"]["mode"], layer["step"]["measured_by"]) for layer in doc["layers"]] == [
        ("base.layers[1]", "inference", "output"), ("base.layers[2]", "inference", "output")]
    norm = doc["layers"][0]
    assert (norm["frozen"], norm["statistics_changed"], norm["weights_changed"], norm["layout"]) == (True, False, False, "NC")
    assert all(layer[p]["check"]["passed"] for layer in doc["layers"] for p in ("step", "inference"))
    assert doc["hazards"] == []


@pytest.mark.parametrize("name, how", [("mlx_mistake", "output"), ("mlx_mistake_compiled", "statistics")])
def test_train_after_base_eval_names_the_hazard(name, how):
    doc = _audit(name)
    norm = doc["layers"][0]
    assert (norm["step"]["mode"], norm["step"]["measured_by"], norm["statistics_changed"], norm["frozen"]) == (
        "training", how, True, True)
    assert norm["inference"]["check"]["passed"]
    found = _hazards(doc)
    assert found.keys() == {"frozen_statistics_move", "inference_layer_training"}
    assert "call model.base.eval() after every model.train()" in found["frozen_statistics_move"]["fix"]


def test_momentum_from_keras_under_the_default_step():
    doc = _audit("mlx_keras_momentum")
    assert doc["step"].startswith("default") and doc["layers"][0]["step"]["check"]["passed"]
    assert "momentum=0.01" in _hazards(doc)["momentum_convention"]["fix"]


def test_the_users_model_is_unchanged():
    target = load(f"{TARGETS}:mlx_mistake")
    state = [(k, np.array(v)) for k, v in tree_flatten(target.model.parameters())]
    modes = [m.training for _, m in target.model.named_modules()]
    calls = (nn.BatchNorm.__call__, nn.Dropout.__call__)
    mlx_nn.observe(Flavour("mlx", specs.manifest("mlx"), specs.profile("mlx")), target)
    after = [(k, np.array(v)) for k, v in tree_flatten(target.model.parameters())]
    assert [k for k, _ in state] == [k for k, _ in after] and all(np.array_equal(a, b) for (_, a), (_, b) in zip(state, after))
    assert [m.training for _, m in target.model.named_modules()] == modes
    assert (nn.BatchNorm.__call__, nn.Dropout.__call__) == calls and "__call__" not in vars(nn.Module)


def test_a_model_that_is_not_a_module_exits_2(tmp_path, capsys):
    import argparse
    module = tmp_path / "targets.py"
    module.write_text("import numpy\n\ndef build():\n    return {'weights': 1}, numpy.zeros((2, 8))\n")
    assert command.execute(argparse.Namespace(flavour="mlx", target=f"{module}:build", json=False)) == 2
    assert "needs an mlx.nn.Module as the model, got a builtins.dict" in capsys.readouterr().err


def test_expression():
    assert mlx_nn.expression("base.layers[1]") == "model.base.layers[1]" and mlx_nn.expression("") == "model"
