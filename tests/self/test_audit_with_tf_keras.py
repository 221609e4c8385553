"""layerconf audit on Keras 2 models (the tf-keras flavour's self-tests: specs/flavours/tf-keras.yaml): the
transfer-learning guide's recipe, the base called without training=False, the guide's Functional model (which Keras 2
runs as written), a momentum copied from torch; every variable restored. Named to run after test_audit_torch.py
(torchvision imported after TensorFlow aborts the process)."""
from pathlib import Path

import numpy as np
import pytest

tf_keras = pytest.importorskip("tf_keras", reason="tf_keras is not installed: its audit self-tests run in tox -e tf-keras")

from layerconf import specs  # noqa: E402
from layerconf.audit import command  # noqa: E402
from layerconf.audit import tf_keras as part  # noqa: E402
from layerconf.audit.target import load  # noqa: E402
from layerconf.flavours import Flavour  # noqa: E402

TARGETS = Path(__file__).with_name("audit_targets.py")


def _audit(name):
    return command.audit("tf-keras", f"{TARGETS}:{name}")


def _modes(doc):
    return {layer["family"]: layer["step"]["mode"] for layer in doc["layers"]}


def test_recipe_and_the_functional_model_keep_the_base_in_inference():
    for name in ("tf_keras_recipe", "tf_keras_functional"):
        doc = _audit(name)
        assert _modes(doc) == {"batchnorm": "inference", "dropout": "inference"}
        assert all(layer["step"]["measured_by"] == "output" and layer["step"]["check"]["passed"] for layer in doc["layers"])
        assert doc["layers"][0]["statistics_changed"] is False and doc["layers"][0]["frozen"] is True
        assert doc["hazards"] == [] and doc["framework_version"].startswith("tf_keras ")


def test_forgotten_training_false_names_the_hazard():
    doc = _audit("tf_keras_forgotten")
    assert _modes(doc) == {"batchnorm": "inference", "dropout": "training"}
    found = {h["hazard"]: h for h in doc["hazards"]}
    assert found.keys() == {"inference_only_while_frozen", "inference_layer_training"}
    assert "call base with training=False" in found["inference_layer_training"]["fix"]


def test_momentum_from_torch():
    found = {h["hazard"]: h for h in _audit("tf_keras_momentum")["hazards"]}
    assert "momentum=0.99" in found["momentum_convention"]["fix"]


def test_every_variable_restored():
    target = load(f"{TARGETS}:tf_keras_forgotten")
    before = [v.numpy().copy() for v in target.model.variables]
    part.observe(Flavour("tf-keras", specs.manifest("tf-keras"), specs.profile("tf-keras")), target)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, target.model.variables))
    assert all("call" not in vars(layer) for layer in target.model._flatten_layers())
