"""layerconf audit's machinery with no framework: the profile read backwards, modes and checks measured from
arrays the reference makes, the hazard rules and their fixes, the table and the JSON, and bad input (exit 2)."""
import argparse
import json

import numpy as np
import pytest

from layerconf import cli, specs
from layerconf.audit import command, hazards, keras3, measure, neutral, pytorch, text
from layerconf.audit.records import INFERENCE, TRAINING, Call, Layer, Observed, Setting
from layerconf.reference import batchnorm

TORCH, KERAS = specs.profile("torch"), specs.profile("keras-tensorflow")
RNG = np.random.default_rng(0)


class Attributes:
    def __init__(self, **values):
        self.__dict__.update(values)


def _read(obj):
    return lambda name: getattr(obj, name, neutral.MISSING)


def test_classes_come_from_the_profile():
    torch_classes, keras_classes = neutral.classes(TORCH), neutral.classes(KERAS)
    assert torch_classes["BatchNorm2d"] == ("batchnorm", None)
    assert torch_classes["SyncBatchNorm"] == ("batchnorm", "sync")
    assert torch_classes["Dropout"] == ("dropout", "element") and torch_classes["Dropout2d"] == ("dropout", "channel")
    assert torch_classes["torchvision.ops.StochasticDepth"][0] == "stochastic_depth"
    assert keras_classes["BatchNormalization"] == ("batchnorm", None)
    assert keras_classes["SpatialDropout2D"] == ("dropout", "channel") and keras_classes["GaussianNoise"][0] == "gaussian_noise"


def test_settings_in_neutral_words_beside_the_native_spelling():
    torch_bn = neutral.settings(TORCH, "batchnorm", _read(Attributes(momentum=0.1, eps=1e-5, affine=True, track_running_stats=True)))
    assert {s.word: s.value for s in torch_bn} == {"decay": 0.9, "eps": 1e-5, "affine": True, "running_stats": True}
    assert neutral.spelled(torch_bn[0]) == "decay 0.9 (momentum=0.1)" and neutral.spelled(torch_bn[1]) == "eps 1e-05"
    keras_bn = neutral.settings(KERAS, "batchnorm", _read(Attributes(momentum=0.99, epsilon=1e-3, center=True, scale=False)))
    assert {s.word: s.value for s in keras_bn} == {"decay": 0.99, "eps": 1e-3, "affine": "mixed"}
    assert neutral.settings(KERAS, "dropout", _read(Attributes(rate=0.3)))[0].value == 0.3   # noise_shape absent: left out


def _bn_layer(**changes) -> Layer:
    fields = dict(path="base.bn", cls="torch.nn.BatchNorm1d", family="batchnorm", kind=None,
                  settings=[Setting("decay", 0.9, {"momentum": 0.1}), Setting("eps", 1e-5, {"eps": 1e-5})], layout="NC",
                  dtype="float32", frozen=False, left_in=TRAINING, weights_changed=False, statistics_changed=False)
    return Layer(**{**fields, **changes})


def _bn_call(training: bool) -> Call:
    x = RNG.normal(2.0, 3.0, (16, 4))
    state = {"gamma": np.full(4, 1.5), "beta": np.full(4, 0.5), "running_mean": np.zeros(4), "running_var": np.ones(4)}
    y = (batchnorm.train_forward(x, state["gamma"], state["beta"], 1e-5, "NC")[0] if training else
         batchnorm.inference_forward(x, state["running_mean"], state["running_var"], state["gamma"], state["beta"], 1e-5, "NC"))
    after = dict(state)
    if training:
        mean, var = batchnorm.batch_moments(x, "NC")
        after["running_mean"], after["running_var"] = batchnorm.update_statistics(
            state["running_mean"], state["running_var"], mean, var, 16, "unbiased", 0.9)
    return Call(training, 16, "float64", x, y, state, after)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_mode_is_measured_from_the_output(training):
    found = measure.measured(_bn_layer(), _bn_call(training), TORCH)
    assert (found.mode, found.how, found.check["passed"]) == (TRAINING if training else INFERENCE, "output", True)


def test_batchnorm_output_off_the_reference_fails_its_check():
    call = _bn_call(True)
    call.y = call.y + 1e-3
    assert not measure.measured(_bn_layer(), call, TORCH).check["passed"]


def test_traced_pass_tells_the_mode_by_the_statistics():
    found = measure.measured(_bn_layer(statistics_changed=True), Call(True, 16), TORCH)
    assert (found.mode, found.how, found.check) == (TRAINING, "statistics", None)


def test_dropout_mode_and_check():
    layer = _bn_layer(family="dropout", kind="element", settings=[Setting("rate", 0.5, {"p": 0.5})])
    x = RNG.normal(size=(8, 6))
    keep = RNG.random((8, 6)) < 0.5
    trained = measure.measured(layer, Call(True, 8, "float64", x, np.where(keep, 2 * x, 0.0)), TORCH)
    assert (trained.mode, trained.check["passed"]) == (TRAINING, True)
    assert not measure.measured(layer, Call(True, 8, "float64", x, np.where(keep, x, 0.0)), TORCH).check["passed"]
    assert measure.measured(layer, Call(False, 8, "float64", x, x.copy()), TORCH).mode == INFERENCE
    assert measure.measured(layer, None, TORCH).mode is None
    paddle = specs.profile("paddle")
    downscaled = _bn_layer(family="dropout", kind="element",
                           settings=neutral.settings(paddle, "dropout", _read(Attributes(p=0.25, mode="downscale_in_infer"))))
    inferred = measure.measured(downscaled, Call(False, 8, "float64", x, 0.75 * x), paddle)
    assert (inferred.mode, inferred.check["passed"]) == (INFERENCE, True)
    trained = measure.measured(downscaled, Call(True, 8, "float64", x, np.where(keep, x, 0.0)), paddle)
    assert (trained.mode, trained.check["passed"]) == (TRAINING, True)
    assert not measure.measured(downscaled, Call(True, 8, "float64", x, np.where(keep, 2 * x, 0.0)), paddle).check["passed"]


def _measured(layer, step=TRAINING, inference=INFERENCE, flag=True, batch=16):
    layer.calls = {"step": Call(flag, batch), "inference": Call(False, batch)}
    layer.measured = {"step": measure.Measured(step, "output"), "inference": measure.Measured(inference, "output")}
    return layer


def _ids(layer, profile=TORCH):
    return [f.hazard for f in hazards.findings(layer, profile)]


def test_hazard_rules():
    assert _ids(_measured(_bn_layer())) == []
    assert _ids(_measured(_bn_layer(frozen=True, statistics_changed=True, left_in=INFERENCE))) == ["frozen_statistics_move"]
    assert _ids(_measured(_bn_layer(left_in=INFERENCE))) == ["inference_layer_training"]
    assert _ids(_measured(_bn_layer(frozen=True), step=INFERENCE)) == ["inference_only_while_frozen"]
    assert _ids(_measured(_bn_layer(), inference=TRAINING)) == ["training_in_inference"]
    assert _ids(_measured(_bn_layer(settings=[Setting("decay", 0.01, {"momentum": 0.99})]))) == ["momentum_convention"]
    assert _ids(_measured(_bn_layer(dtype="float16"))) == ["eps_below_resolution"]
    assert _ids(_measured(_bn_layer(), batch=1)) == ["tiny_batch"]
    assert _ids(_measured(_bn_layer(), batch=hazards.TINY)) == []


def test_fixes_in_each_framework_words():
    torch_layers = [_measured(_bn_layer(path=f"backbone.layer1.{i}.bn", frozen=True, statistics_changed=True,
                                        settings=[Setting("decay", 0.01, {"momentum": 0.99}), Setting("eps", 1e-5, {"eps": 1e-5})]))
                    for i in range(2)]
    found = {h["hazard"]: h for h in hazards.grouped(torch_layers, TORCH, pytorch)}
    assert [entry["path"] for entry in found["frozen_statistics_move"]["layers"]] == [layer.path for layer in torch_layers]
    assert "call model.backbone.layer1.eval() after every model.train()" in found["frozen_statistics_move"]["fix"]
    assert pytorch.expression("layer1.0") == 'model.get_submodule("layer1.0")' and pytorch.expression("") == "model"
    assert "momentum=0.01" in found["momentum_convention"]["fix"]
    keras_layer = _measured(_bn_layer(path="base/bn", dtype="float16", frozen=True,
                                      settings=[Setting("decay", 0.01, {"momentum": 0.01}), Setting("eps", 1e-5, {"epsilon": 1e-5})]),
                            step=INFERENCE)
    found = {h["hazard"]: h for h in hazards.grouped([keras_layer], KERAS, keras3)}
    assert "momentum=0.99" in found["momentum_convention"]["fix"] and "epsilon=0.001" in found["eps_below_resolution"]["fix"]
    assert "call base with training=False" in found["inference_only_while_frozen"]["fix"]
    assert set(pytorch.FIXES) == set(keras3.FIXES) == set(hazards.TITLES)


def test_every_part_has_the_interface_and_a_fix_per_hazard():
    """The framework parts import no framework at import time; each names a fix for every hazard."""
    import importlib
    for name in set(command.PARTS.values()):
        part = importlib.import_module(name)
        assert set(part.FIXES) == set(hazards.TITLES), name
        assert callable(part.observe) and callable(part.expression) and part.SEPARATOR and part.KEPT, name


def test_table_and_json():
    layer = _measured(_bn_layer(frozen=True, statistics_changed=True))
    layer.measured["step"] = measure.measured(layer, _bn_call(True), TORCH)
    found = hazards.grouped([layer], TORCH, pytorch)
    doc = text.document("torch", "m:f", Observed([layer], "torch 0", pytorch.KEPT, pytorch.DEFAULT_STEP, "(16, 4) float32"), found)
    assert json.loads(json.dumps(doc, default=str))["layers"][0]["step"]["mode"] == TRAINING
    assert text.failing(doc)
    table = text.table(doc)
    assert "base.bn" in table and "training (output)" in table and "decay 0.9 (momentum=0.1)" in table
    assert "hazard 1: frozen layer whose statistics still move" in table and "fix: " in table


def _execute(flavour, target):
    return command.execute(argparse.Namespace(flavour=flavour, target=target, json=False))


def test_bad_input_exits_2(tmp_path, capsys):
    module = tmp_path / "targets.py"
    module.write_text("def text():\n    return 'a model'\n\ndef broken():\n    raise RuntimeError('no data')\n")
    cases = {("nope", f"{module}:text"): "no flavour 'nope'", ("torch-compile", f"{module}:text"): "not supported by the audit yet",
             ("torch", "no_such_module_here:f"): "no module named", ("torch", f"{module}:missing"): "has no function",
             ("torch", f"{module}:text"): "must return (model, batch)", ("torch", f"{module}:broken"): "raised RuntimeError",
             ("torch", "nocolon"): "TARGET must be module:function", ("torch", f"{tmp_path}/none.py:f"): "no file"}
    for (flavour, target), message in cases.items():
        assert _execute(flavour, target) == 2
        assert message in capsys.readouterr().err


def test_the_command_line_has_audit():
    args = cli.parser().parse_args(["audit", "--flavour", "torch", "m:f", "--json"])
    assert (args.handler, args.flavour, args.target, args.json) == (command.execute, "torch", "m:f", True)
