"""layerconf audit on Flax linen models (the flax-linen flavour's self-tests: specs/flavours/flax-linen.yaml): the
base called with train=False under a trainable head, the base given the model's own train flag eagerly and under
jax.jit, a momentum copied from torch under the default step, and a model that is not (module, variables)."""
from pathlib import Path

import pytest

pytest.importorskip("flax.linen", reason="flax is not installed: the flax-linen audit's self-tests run in tox -e flax-linen")
pytest.importorskip("optax", reason="optax is not installed")

from layerconf.audit import command, flax_linen  # noqa: E402
from layerconf.audit.target import AuditError  # noqa: E402

TARGETS = Path(__file__).with_name("audit_targets.py")


def _audit(name):
    return command.audit("flax-linen", f"{TARGETS}:{name}")


def _hazards(doc):
    return {h["hazard"]: h for h in doc["hazards"]}


def test_recipe_keeps_the_base_in_inference():
    doc = _audit("linen_recipe")
    assert [(layer["path"], layer["frozen"], layer["step"]["mode"], layer["step"]["measured_by"]) for layer in doc["layers"]] == [
        ("base/BatchNorm_0", True, "inference", "output"), ("base/Dropout_0", True, "inference", "output")]
    assert doc["layers"][0]["statistics_changed"] is False and doc["hazards"] == []
    assert all(layer[p]["check"]["passed"] for layer in doc["layers"] for p in ("step", "inference"))


@pytest.mark.parametrize("name, how", [("linen_mistake", "output"), ("linen_mistake_jit", "statistics")])
def test_the_models_own_train_flag_names_the_hazard(name, how):
    doc = _audit(name)
    norm = doc["layers"][0]
    assert (norm["step"]["mode"], norm["step"]["measured_by"], norm["statistics_changed"], norm["frozen"]) == (
        "training", how, True, True)
    found = _hazards(doc)
    assert found.keys() == {"frozen_statistics_move", "inference_layer_training"}
    assert "call base with use_running_average=True" in found["frozen_statistics_move"]["fix"]


def test_momentum_from_torch_under_the_default_step():
    doc = _audit("linen_torch_momentum")
    assert "train=True" in doc["step"] and doc["layers"][0]["frozen"] is False
    assert "momentum=0.9" in _hazards(doc)["momentum_convention"]["fix"]


def test_a_module_without_variables_is_refused():
    with pytest.raises(AuditError, match=r"needs \(module, variables\)"):
        _audit("linen_not_a_pair")


def test_flags_from_the_call_signature():
    import flax.linen as nn

    class Net(nn.Module):
        def __call__(self, x, deterministic: bool = False):
            return x
    assert flax_linen._flags(Net()) == {"deterministic": True} and flax_linen._flipped({"train": False}) == {"train": True}
