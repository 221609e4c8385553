"""layerconf audit --compare of a torch model and its torch.onnx.export run by ONNX Runtime (the torch-onnx flavour's
self-tests: specs/flavours/torch-onnx.yaml): the dynamo exporter's training graph runs its BatchNorms as inference
(this suite's declaration in specs/deviations/torch-onnx.yaml), the TorchScript exporter's keeps no statistics."""
import argparse
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="torch is not installed: these self-tests run in tox -e torch-onnx")
pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
pytest.importorskip("onnxscript", reason="onnxscript is not installed (the dynamo exporter's translator)")

from layerconf.audit import command, compare_text  # noqa: E402

TARGETS = Path(__file__).with_name("audit_targets.py")
A = f"{TARGETS}:torch_training"


def _exported(tmp_path, dynamo):
    import importlib.util
    spec = importlib.util.spec_from_file_location("audit_targets", TARGETS)
    targets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(targets)
    return str(targets.torch_exported(tmp_path / f"model_{'dynamo' if dynamo else 'torchscript'}.onnx", dynamo))


def _differences(doc, kind):
    return {p["a"]: d for p in doc["pairs"] for d in p["differences"] if d["kind"] == kind}


def test_dynamo_export_trains_as_inference(tmp_path):
    doc = command.compared("torch", A, _exported(tmp_path, True))
    assert [(p["a"], p["b"], p["family"]) for p in doc["pairs"]] == [("0", "0", "batchnorm"), ("3", "3", "batchnorm"),
                                                                     ("4", "4", "dropout")]
    modes = _differences(doc, "mode")
    for path in ("0", "3"):
        pair = next(p for p in doc["pairs"] if p["a"] == path)
        assert (pair["step"]["a"]["mode"], pair["step"]["b"]["mode"]) == ("training", "inference")
        assert pair["step"]["a"]["check"]["passed"] and pair["step"]["b"]["check"]["passed"]
        assert pair["inference"]["output"]["passed"]   # both in inference: the same output
        declared = [f for f in modes[path]["fixes"] if "declared" in f]
        assert declared and declared[0]["flavour"] == "torch-onnx" and "training mode as an inference" in declared[0]["reason"]
        assert modes[path]["size"] == pair["step"]["output"]["max_error"] > 0.1
        assert _differences(doc, "statistics")[path]["fixes"][0]["declared"].startswith("specs/deviations/torch-onnx.yaml")
    assert "found by this suite (torch-onnx)" in compare_text.table(doc)


def test_torchscript_training_export_keeps_no_statistics(tmp_path):
    doc = command.compared("torch", A, _exported(tmp_path, False))
    for pair in doc["pairs"][:2]:
        assert (pair["step"]["a"]["mode"], pair["step"]["b"]["mode"]) == ("training", "training")
        assert pair["inference"]["b"]["mode"] == "training"   # a training graph is one in inference too
        kinds = [d["kind"] for d in pair["differences"]]
        assert kinds == ["state", "mode", "reference"]   # the export's trace moved the statistics it wrote
        reference = pair["differences"][-1]
        assert reference["fixes"][0]["flavour"] == "torch-onnx-torchscript" and "drops them" in reference["fixes"][0]["reason"]


def test_by_name_and_bad_pairs(tmp_path, capsys):
    path = _exported(tmp_path, True)
    assert [p["b"] for p in command.compared("torch", A, path, by="name")["pairs"]] == ["0", "3", "4"]
    args = argparse.Namespace(flavour="torch", target=None, json=False, compare=[f"{TARGETS}:torch_recipe", path],
                              map="order", flavour_b=None)
    assert command.execute(args) == 2 and "A has 2 training-flag layers" in capsys.readouterr().err
