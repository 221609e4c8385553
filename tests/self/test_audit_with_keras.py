"""layerconf audit on Keras 3 models, on the backend KERAS_BACKEND names (the keras-* flavours' self-tests:
specs/flavours/keras-*.yaml): the transfer-learning guide's recipe, the base called without training=False, the
guide's Functional model, a momentum copied from torch; every variable restored. Named to run after
test_audit_torch.py in one process: torchvision imported after TensorFlow aborts it (LLVM's options registered
twice), the other order works."""
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="keras is not installed: the Keras audit's self-tests run in tox -e keras-*")

from layerconf.audit import command  # noqa: E402

TARGETS = Path(__file__).with_name("audit_targets.py")   # tox runs the flavour self-tests from elsewhere
FLAVOUR = f"keras-{keras.backend.backend()}"
# keras#20577 (declared in specs/deviations/keras3.yaml): JAX's stateless training step does not pass the model's
# training=True down to layers called without it, so the forgotten flag shows no hazard there
PROPAGATES = keras.backend.backend() != "jax"


def _audit(name):
    return command.audit(FLAVOUR, f"{TARGETS}:{name}")


def _modes(doc):
    """The step's mode by family (layer names are numbered by the process's earlier models)."""
    return {layer["family"]: layer["step"]["mode"] for layer in doc["layers"]}


def test_recipe_keeps_the_base_in_inference():
    doc = _audit("keras_recipe")
    assert _modes(doc) == {"batchnorm": "inference", "dropout": "inference"}
    assert [layer["path"].split("/")[0] for layer in doc["layers"]] == ["base", "base"]
    assert doc["layers"][0]["statistics_changed"] is False and doc["layers"][0]["frozen"] is True
    assert doc["hazards"] == []


def test_forgotten_training_false_names_the_hazard():
    doc = _audit("keras_forgotten")
    assert _modes(doc)["batchnorm"] == "inference"   # trainable=False: inference whatever the flag
    hazards = {h["hazard"] for h in doc["hazards"]}
    assert hazards == ({"inference_only_while_frozen", "inference_layer_training"} if PROPAGATES else set())


@pytest.mark.skipif(not PROPAGATES, reason="keras#20577: no training=True reaches the base on JAX")
def test_functional_recipe_overrides_training_false():
    """keras#20285 (declared in specs/deviations/keras3.yaml): a Functional model passes its training=True over the
    base's own training=False; the frozen BatchNormalization stays in inference only because it is frozen."""
    doc = _audit("keras_functional")
    assert {h["hazard"] for h in doc["hazards"]} == {"inference_only_while_frozen", "inference_layer_training"}


def test_momentum_from_torch():
    found = {h["hazard"]: h for h in _audit("keras_momentum")["hazards"]}
    assert "momentum=0.99" in found["momentum_convention"]["fix"]


def test_every_variable_restored():
    from layerconf import specs
    from layerconf.audit import keras3
    from layerconf.audit.target import load
    from layerconf.flavours import Flavour
    target = load(f"{TARGETS}:keras_forgotten")
    before = [np.array(keras.ops.convert_to_numpy(v)) for v in target.model.variables]
    keras3.observe(Flavour(FLAVOUR, specs.manifest(FLAVOUR), specs.profile(FLAVOUR)), target)
    assert all(np.array_equal(a, keras.ops.convert_to_numpy(v)) for a, v in zip(before, target.model.variables))
    assert all("call" not in vars(layer) for layer in target.model._flatten_layers())


def test_mobilenet_v2_under_the_guides_recipe():
    """keras.applications.MobileNetV2 (weights=None, 32x32) as the transfer-learning guide freezes it: every
    BatchNormalization of the base in inference with its statistics unchanged; without training=False, the hazard."""
    doc = _audit("mobilenet_recipe")
    norms = [layer for layer in doc["layers"] if layer["family"] == "batchnorm"]
    assert len(norms) == 52 and all(layer["path"].startswith("mobilenetv2_1.00_32/") for layer in norms)
    assert all(layer["step"]["mode"] == "inference" and layer["statistics_changed"] is False and layer["frozen"]
               for layer in norms)
    assert any(layer["step"]["measured_by"] == "output" for layer in norms)
    assert all(layer[p]["check"]["passed"] for layer in norms for p in ("step", "inference"))
    assert doc["hazards"] == []
    found = {h["hazard"]: h for h in _audit("mobilenet_forgotten")["hazards"]}
    if PROPAGATES:
        assert [entry["path"] for entry in found["inference_only_while_frozen"]["layers"]] == [n["path"] for n in norms]
        assert "call mobilenetv2_1.00_32 with training=False" in found["inference_only_while_frozen"]["fix"]
    else:
        assert found == {}
