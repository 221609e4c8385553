"""layerconf audit on torch models (the torch flavour's self-tests: specs/flavours/torch.yaml): torchvision
ResNet-18 with the model.train() mistake (and its HTML page), the recipe kept in eval(), a momentum copied from Keras;
the user's model left as it was."""
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the torch audit's self-tests run in tox -e torch")
pytest.importorskip("torchvision", reason="torchvision is not installed")

from layerconf.audit import command  # noqa: E402
from layerconf.audit.target import load  # noqa: E402
from tests.self.test_audit_html import _execute, _rows  # noqa: E402

TARGETS = Path(__file__).with_name("audit_targets.py")   # tox runs the flavour self-tests from elsewhere


def _audit(name):
    return command.audit("torch", f"{TARGETS}:{name}")


def _hazards(doc):
    return {h["hazard"]: h for h in doc["hazards"]}


def test_resnet18_backbone_back_in_training():
    doc = _audit("resnet_train_mistake")
    norms = [layer for layer in doc["layers"] if layer["path"].startswith("backbone.")]
    assert len(norms) == 20 and all(layer["class"] == "torch.nn.modules.batchnorm.BatchNorm2d" for layer in norms)
    assert all(layer["step"]["mode"] == "training" and layer["step"]["measured_by"] == "output" for layer in norms)
    assert all(layer["statistics_changed"] and not layer["weights_changed"] and layer["frozen"] for layer in norms)
    assert all(layer[p]["check"]["passed"] for layer in norms for p in ("step", "inference"))
    found = _hazards(doc)["frozen_statistics_move"]
    assert [entry["path"] for entry in found["layers"]] == [layer["path"] for layer in norms]
    assert "call model.backbone.eval() after every model.train()" in found["fix"] and "override" in found["fix"]


def test_recipe_kept_in_eval_has_no_hazard():
    doc = _audit("torch_recipe")
    assert doc["hazards"] == [] and [layer["step"]["mode"] for layer in doc["layers"]] == ["inference", "inference"]
    assert _hazards(_audit("torch_mistake")).keys() == {"frozen_statistics_move", "inference_layer_training"}


def test_momentum_from_keras_and_tiny_eps():
    found = _hazards(_audit("torch_keras_momentum"))
    assert "momentum=0.01" in found["momentum_convention"]["fix"] and "eps=1e-06" in found["eps_below_resolution"]["fix"]


def test_the_users_model_is_unchanged():
    target = load(f"{TARGETS}:torch_mistake")
    state = {k: v.clone() for k, v in target.model.state_dict().items()}
    modes = [m.training for m in target.model.modules()]
    from layerconf import specs
    from layerconf.audit import pytorch
    from layerconf.flavours import Flavour
    pytorch.observe(Flavour("torch", specs.manifest("torch"), specs.profile("torch")), target)
    assert all(torch.equal(state[k], v) for k, v in target.model.state_dict().items())
    assert [m.training for m in target.model.modules()] == modes


def test_resnet18_audit_to_html(tmp_path, capsys):
    page = tmp_path / "resnet.html"
    assert _execute(f"{TARGETS}:resnet_train_mistake", str(page), as_json=False) == 1
    shown = page.read_text()
    rows = [row for row in _rows(shown, "<tr><th>layer</th>") if "<code>backbone." in row]
    assert len(rows) == 20 and all(">BatchNorm2d<" in r and ">training (output)<" in r and ">moved<" in r for r in rows)
    assert all('href="#audit-1-hazard-1"' in r for r in rows)
    hazard = _rows(shown, "<tr><th>#</th><th>hazard</th>")[0]
    assert "frozen layer whose statistics still move" in hazard and ">20: <code>backbone.bn1</code>" in hazard
    assert "call model.backbone.eval() after every model.train()" in hazard
    assert "hazard 1: frozen layer whose statistics still move" in capsys.readouterr().out   # the table still printed
