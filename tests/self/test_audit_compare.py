"""layerconf audit --compare's machinery with no framework: layers paired by order and by name, each difference
named (setting, state, mode, statistics, reference) with its size and fix, a fused layer checked with A's input,
the table and the JSON, and bad input (exit 2)."""
import argparse
import json

import numpy as np
import pytest

from layerconf import specs
from layerconf.audit import command, compare, compare_text
from layerconf.audit.records import INFERENCE, TRAINING, Call, Layer, Observed, Setting
from layerconf.audit.target import AuditError
from layerconf.reference import batchnorm

TORCH, ORT = specs.profile("torch"), specs.profile("onnxruntime")
X = np.random.default_rng(0).normal(2.0, 3.0, (16, 4))
STATE = {"gamma": np.full(4, 1.5), "beta": np.full(4, 0.5), "running_mean": np.zeros(4), "running_var": np.ones(4)}


def _call(training: bool, state=STATE, keep_statistics=False, x=X, correction="unbiased") -> Call:
    """A BatchNorm call whose output and statistics the reference makes (torch's unbiased update, decay 0.9)."""
    y = (batchnorm.train_forward(x, state["gamma"], state["beta"], 1e-5, "NC")[0] if training else
         batchnorm.inference_forward(x, state["running_mean"], state["running_var"], state["gamma"], state["beta"], 1e-5, "NC"))
    after = dict(state)
    if training and not keep_statistics:
        mean, var = batchnorm.batch_moments(x, "NC")
        after["running_mean"], after["running_var"] = batchnorm.update_statistics(
            state["running_mean"], state["running_var"], mean, var, len(x), correction, 0.9)
    return Call(training, len(x), "float64", x, y, state, after)


def _layer(path="bn", step=True, inference=False, decay=0.9, state=STATE, keep_statistics=False, family="batchnorm",
           correction="unbiased"):
    calls = {"step": _call(step, state, keep_statistics, correction=correction), "inference": _call(inference, state)}
    moved = step and not keep_statistics
    return Layer(path, "torch.nn.BatchNorm1d", family, None, [Setting("decay", decay, {"momentum": 1 - decay}),
                 Setting("eps", 1e-5, {"eps": 1e-5})], "NC", "float64", None, TRAINING, False, moved, calls)


def _doc(a, b, by="order", explain=lambda *args: []):
    sides = {"A": {"target": "m:a", "flavour": "torch"}, "B": {"target": "m:b", "flavour": "torch"}}
    observed = tuple(Observed(layers, "v", "kept", "step", "(16, 4) float64") for layers in (a, b))
    return compare.document(sides, observed, by, (TORCH, TORCH), explain)


def _kinds(doc):
    return [(d["kind"], d["what"]) for p in doc["pairs"] for d in p["differences"]]


def test_the_same_layer_has_no_difference():
    doc = _doc([_layer()], [_layer()])
    assert _kinds(doc) == [] and not compare.failing(doc)
    assert doc["pairs"][0]["step"]["a"]["mode"] == TRAINING and doc["pairs"][0]["step"]["output"]["max_error"] == 0


def test_training_as_inference_is_a_mode_difference_with_its_size():
    explained = []
    doc = _doc([_layer()], [_layer(step=False)], explain=lambda *args: explained.append(args[:2]) or [{"fix": "export"}])
    assert _kinds(doc) == [("mode", "step"), ("statistics", "running_mean and running_var")]
    mode = doc["pairs"][0]["differences"][0]
    expected = batchnorm.train_forward(X, STATE["gamma"], STATE["beta"], 1e-5, "NC")[0] - batchnorm.inference_forward(
        X, STATE["running_mean"], STATE["running_var"], STATE["gamma"], STATE["beta"], 1e-5, "NC")
    assert mode["size"] == pytest.approx(np.abs(expected).max()) and mode["fixes"] == [{"fix": "export"}]
    assert ("mode", "step") in explained and compare.failing(doc)


def test_kept_statistics_differ_and_fail_the_reference():
    doc = _doc([_layer()], [_layer(keep_statistics=True)])
    assert _kinds(doc) == [("statistics", "running_mean and running_var"), ("reference", "step, B")]


def test_other_settings_and_state_at_the_start():
    other = {**STATE, "running_mean": np.full(4, 0.5)}
    doc = _doc([_layer()], [_layer(decay=0.99, state=other)])
    kinds = _kinds(doc)
    assert kinds[:2] == [("setting", "decay"), ("state", "running_mean")]
    setting = doc["pairs"][0]["differences"][0]
    assert setting["size"] == pytest.approx(0.09) and "momentum=0.1" in setting["fixes"][0]["fix"]


def test_the_porting_table_names_the_variance_correction():
    a, b = _layer(), _layer(correction="biased")   # ONNX's BatchNormalization: ReduceVar, no n/(n-1)
    doc = compare.document({"A": {"target": "a", "flavour": "torch"}, "B": {"target": "b.onnx", "flavour": "onnxruntime"}},
                           tuple(Observed([x], "v", "kept", "step", "") for x in (a, b)), "order", (TORCH, ORT),
                           lambda *args: [])
    statistics = [d for d in doc["pairs"][0]["differences"] if d["kind"] == "statistics"]
    assert statistics and any("porting" in f and f["porting"].startswith("running variance: A adds var_B n/(n-1)")
                              for f in statistics[0]["fixes"])


def test_pairing_by_order_and_by_name():
    with pytest.raises(AuditError, match="A has 2 training-flag layers .* B has 1 .*--map name"):
        compare.paired([_layer("a"), _layer("b")], [_layer("a")], "order")
    with pytest.raises(AuditError, match="meets B's"):
        compare.paired([_layer("a")], [_layer("a", family="dropout")], "order")
    pairs, only_a, only_b = compare.paired([_layer("a"), _layer("b")], [_layer("b"), _layer("c")], "name")
    assert [(x.path, y.path) for x, y in pairs] == [("b", "b")] and (only_a, only_b) == (["a"], ["c"])
    with pytest.raises(AuditError, match="no layer path of A"):
        compare.paired([_layer("a")], [_layer("c")], "name")


def test_a_fused_layer_is_checked_with_the_input_of_a():
    fused = _layer(step=False)
    for call in fused.calls.values():
        call.x, call.before, call.after = None, {}, {}
    fused.settings, fused.statistics_changed = [], None
    pair = _doc([_layer()], [fused])["pairs"][0]
    assert pair["step"]["b"]["mode"] == INFERENCE and pair["step"]["b"]["measured_by"] == "output"
    assert "fused" in pair["notes"][0] and [d["kind"] for d in pair["differences"]] == ["mode", "statistics"]


def test_table_and_json():
    doc = _doc([_layer()], [_layer(step=False)], explain=lambda *args: [
        {"declared": "specs/deviations/x.yaml, entry 0", "flavour": "x", "reason": "Why. More", "link": "https://l"}])
    assert json.loads(json.dumps(doc, default=str))["pairs"][0]["differences"][0]["kind"] == "mode"
    table = compare_text.table(doc)
    assert "train ok / infer ok" in table and "1. bn / bn: mode (step, size" in table
    assert "found by this suite (x), specs/deviations/x.yaml, entry 0: Why (https://l)" in table


def _execute(*compared, target=None, flavour="torch", by="order", flavour_b=None):
    return command.execute(argparse.Namespace(flavour=flavour, target=target, json=False, compare=list(compared) or None,
                                              map=by, flavour_b=flavour_b))


def test_bad_input_exits_2(tmp_path, capsys):
    cases = {("m:a", f"{tmp_path}/none.onnx"): "no file",
             (f"{tmp_path}/a.onnx", "m:b"): "A (",
             ("m:a", "m:b", "nope"): "--map: 'nope' is not a mapping"}
    for args, message in cases.items():
        assert _execute(*args[:2], by=args[2] if len(args) > 2 else "order") == 2
        assert message in capsys.readouterr().err
    assert _execute("m:a", "m:b", flavour="keras-jax", flavour_b="keras-tensorflow") == 2
    assert "two Keras backends" in capsys.readouterr().err
    assert _execute("m:a", "b.onnx", flavour_b="torch") == 2 and "leave --flavour-b out" in capsys.readouterr().err
    assert _execute("m:a", "m:b", target="m:c") == 2 and "not both" in capsys.readouterr().err
    assert _execute() == 2 and "give TARGET" in capsys.readouterr().err
