"""The onnx-backend flavour through the plugin: the suite's ONNX models run by the Backend --onnx-backend names,
with onnx.reference behind the self-tests' wrapper (tests/self/onnx_reference_backend.py) and with ONNX Runtime's
own backend module. Skipped, visibly, where onnx (or onnxruntime) is not installed; its manifest lists it."""
import json

import ml_dtypes  # noqa: F401 - as in test_plugin.py: imported once, before the in-process runs
import pytest
import scipy.stats  # noqa: F401

from layerconf import specs, suite

pytest_plugins = ["pytester"]
onnx = pytest.importorskip("onnx", reason="onnx is not installed: the onnx-backend flavour runs in an environment with it")
REFERENCE = "tests.self.onnx_reference_backend:ReferenceBackend"


@pytest.fixture
def run(pytester):
    """The dropout checks of onnx-backend in this process: (exit code, records, the flavour's metadata)."""
    def go(*args):
        out = pytester.path / "r.json"
        result = pytester.runpytest_inprocess(*suite.pytest_args(["--flavour", "onnx-backend", "-k", "test_dropout",
                                                                  "--results", str(out), *args]))
        if not out.exists():
            return result.ret, [], result.stderr.str()
        document = json.loads(out.read_text())
        return result.ret, document["records"], document["metadata"]["frameworks"]["onnx-backend"]
    return go


def test_the_flavour_needs_its_backend(run):
    code, _, err = run()
    assert code == pytest.ExitCode.USAGE_ERROR and "--flavour onnx-backend needs --onnx-backend module:Backend" in err


def test_a_backend_of_no_shipped_runtime_takes_the_users_declarations(run):
    """The reference wrapper belongs to no runtime a shipped flavour runs: onnx-reference's file, passed as the user's,
    declares what onnx.reference does, and the results record the backend."""
    code, records, meta = run("--onnx-backend", REFERENCE)
    assert code == 1 and {r["outcome"] for r in records if r["behaviour"] == "do.error.rate"} == {"failed"}
    shipped = specs.DIRECTORY / "deviations" / "onnx-reference.yaml"
    code, records, meta = run("--onnx-backend", REFERENCE, "--deviations", str(shipped))
    assert code == 0 and {r["outcome"] for r in records if r["behaviour"] == "do.error.rate"} == {"deviation"}
    assert meta["environment"]["backend"] == REFERENCE and meta["environment"]["deviations_of"] is None
    assert meta["version"] == "0+unknown" and meta["environment"]["onnx"] == onnx.__version__


def test_onnx_runtimes_backend_takes_onnxruntimes_declarations(run):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    code, records, meta = run("--onnx-backend", "onnxruntime.backend.backend:OnnxRuntimeBackend")
    assert code == 0 and meta["version"] == ort.__version__ and meta["environment"]["deviations_of"] == "onnxruntime"
    declared = {r["deviation"]["source"] for r in records if r["deviation"]}
    assert declared == {"specs/deviations/onnxruntime.yaml"}
