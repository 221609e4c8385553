"""reference.training_flag: the mode each Keras call runs a BatchNormalization in, from the profiles' rule."""
import pytest

from layerconf import specs
from layerconf.reference.training_flag import TrainingFlag

KERAS = TrainingFlag.of(specs.profile("keras-tensorflow"))


@pytest.mark.parametrize("flag", [True, False])
@pytest.mark.parametrize("context", ["direct_call", "fit", "predict", "evaluate"])
def test_an_explicit_flag_holds_in_every_context(context, flag):
    assert KERAS.training(context, flag) is flag


def test_without_the_flag_only_fit_trains():
    assert [KERAS.training(c, None) for c in ("direct_call", "fit", "predict", "evaluate")] == [False, True, False, False]


@pytest.mark.parametrize("context", ["direct_call", "fit"])
@pytest.mark.parametrize("flag", [True, False, None])
def test_trainable_false_means_inference_whatever_the_flag(context, flag):
    assert KERAS.training(context, flag, trainable=False) is False


def test_an_unkept_explicit_flag_is_overridden_by_fit_only():
    """keras#20285: fit's training=True reaches a base called with training=False (profile override)."""
    overridden = TrainingFlag.of(specs.profile("keras-tensorflow").overridden({"training_flag.explicit_flag_kept": False}))
    assert overridden.training("fit", False) is True
    assert overridden.training("direct_call", False) is False
    assert overridden.training("fit", False, trainable=False) is False   # frozen still wins


def test_a_frozen_layer_that_keeps_training():
    rule = TrainingFlag("inference", "training", "inference", "inference", frozen_batchnorm_inference=False,
                        explicit_flag_kept=True)
    assert rule.training("direct_call", True, trainable=False) is True
    assert rule.training("fit", None, trainable=False) is True


def test_every_profile_with_a_training_flag_states_the_whole_rule():
    profiles = [specs.profile(name) for name in specs.flavour_names()]
    rules = [TrainingFlag.of(p) for p in profiles if p.has("training_flag")]
    assert rules and all(None not in vars(rule).values() for rule in rules)
