"""The command line: run (with fake framework processes that pass, crash or hang), report, diff, errors."""
import json
import sys

import pytest

from layerconf import cli, results, runner
from tests.self.documents import document, with_outcome

GOOD = "import shutil, sys; print('collected 1 item'); print('t.py::x PASSED [1/1]'); shutil.copy({src!r}, sys.argv[1])"
CRASH = "import os, signal; print('collected 3 items', flush=True); print('boom: segfault in the kernel', flush=True); os.kill(os.getpid(), signal.SIGSEGV)"
USAGE = "import sys; print('ERROR: --framework keras-jax: run it in its own process with KERAS_BACKEND=jax'); sys.exit(4)"
HANG = "import time; print('collected 5 items', flush=True); time.sleep(120)"


@pytest.fixture
def fake_frameworks(monkeypatch, tmp_path):
    """torch passes (copying a prepared results file), keras-jax crashes, keras-torch hangs, tf-keras exits 4."""
    torch_only = results.merge([document()])
    torch_only["records"] = [r for r in torch_only["records"] if r["framework"] == "torch"]
    del torch_only["metadata"]["frameworks"]["keras-jax"]
    src = tmp_path / "torch-prepared.json"
    results.write_document(src, torch_only)
    scripts = {"torch": GOOD.format(src=str(src)), "keras-jax": CRASH, "keras-torch": HANG, "tf-keras": USAGE}
    monkeypatch.setattr(runner, "available", lambda: list(scripts))
    monkeypatch.setattr(runner, "pytest_command", lambda fw, path, seed, device: [sys.executable, "-c", scripts[fw], str(path)])
    return scripts


def test_run_records_crashed_and_hung_frameworks_and_still_reports(fake_frameworks, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", "--output", str(out), "--timeout", "3"]) == 1
    doc = results.read(out / "results.json")
    runs = doc["runs"]
    assert {fw: (r["status"], r["exit_code"]) for fw, r in runs.items()} == {
        "torch": ("completed", 0), "keras-jax": ("crashed", -11), "keras-torch": ("timed_out", None), "tf-keras": ("crashed", 4)}
    assert "boom: segfault in the kernel" in runs["keras-jax"]["output_tail"]
    assert "killed after the time limit of 3 s" in runs["keras-torch"]["output_tail"]
    assert runs["keras-jax"]["environment"] == {"KERAS_BACKEND": "jax"}     # its exclusive environment
    assert {r["framework"] for r in doc["records"]} == {"torch"} and list(doc["metadata"]["frameworks"]) == ["torch"]
    markdown = (out / "report.md").read_text()
    assert "| keras-torch | - | ? | TIMED OUT after 3 s | no records |" in markdown
    assert "| keras-jax | - | ? | CRASHED (exit -11) | no records |" in markdown
    assert "run it in its own process with KERAS_BACKEND=jax" in markdown
    assert (out / "report.html").read_text().count("<svg") >= 1
    progress = capsys.readouterr().err
    assert "[1/4] torch" in progress and "torch: 1/1 checks, 0 failed: completed (exit 0)" in progress
    assert "keras-torch: 0/5 checks, 0 failed: timed_out" in progress


def test_run_exit_status_is_zero_when_every_framework_passes(fake_frameworks, tmp_path):
    assert cli.main(["run", "--framework", "torch", "--output", str(tmp_path)]) == 0
    assert list(results.read(tmp_path / "results.json")["runs"]) == ["torch"]


@pytest.mark.parametrize("argv, message", [
    (["run", "--framework", "caffe"], "--framework must be one of"),
    (["run", "--framework", "flax-nnx"], "--framework: not installed here: flax-nnx (installed: torch, keras-jax"),
])
def test_run_rejects_unknown_and_missing_frameworks(fake_frameworks, argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_run_rejects_a_non_positive_timeout(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--timeout", "0"])
    assert "--timeout: must be a positive number of seconds, got 0" in capsys.readouterr().err


def test_diff_exit_status_gates_on_regressions(tmp_path, capsys):
    old, same, regressed = tmp_path / "old.json", tmp_path / "same.json", tmp_path / "new.json"
    for path, doc in ((old, document()), (same, document()),
                      (regressed, with_outcome(document(), "bn.train.output[layout=NC]", "torch", "failed", "2.10.0"))):
        results.write_document(path, doc)
    assert cli.main(["diff", str(old), str(same)]) == 0
    assert cli.main(["diff", str(old), str(regressed), "--output", str(tmp_path / "comment.md")]) == 1
    out = capsys.readouterr().out
    assert "**1 regression(s)**" in out and "| torch | 2.9.1+cpu | 2.10.0 |" in out
    assert (tmp_path / "comment.md").read_text().startswith("## layerconf: changes between two runs")


@pytest.mark.parametrize("content, message", [
    (lambda text: text[: len(text) // 3], "not valid JSON (truncated?) at line"),
    (lambda text: json.dumps({"schema": "junit/2"}), "schema: expected 'layerconf.results/1', found 'junit/2'"),
    (lambda text: text.replace('"outcome": "passed"', '"outcome": "green"', 1), "records/0/outcome: 'green' is not one of"),
])
def test_report_and_diff_reject_bad_input_saying_what_and_where(tmp_path, capsys, content, message):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    results.write_document(good, document())
    bad.write_text(content(good.read_text()))
    assert cli.main(["diff", str(good), str(bad)]) == 2
    assert cli.main(["report", str(good), str(bad), "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count(f"layerconf: error: {bad}: ") == 2 and message in err


def test_report_writes_both_files_from_several_results(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    results.write_document(a, document())
    results.write_document(b, with_outcome(document(), "bn.train.output[layout=NC]", "torch", "failed", "2.10.0"))
    assert cli.main(["report", str(a), str(b), "--output", str(tmp_path / "r")]) == 0
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert "| torch 2.9.1+cpu |" in markdown and "| torch 2.10.0 |" in markdown


def test_python_dash_m_layerconf_has_the_subcommands():
    import subprocess
    out = subprocess.run([sys.executable, "-m", "layerconf", "--help"], capture_output=True, text=True, check=True).stdout
    assert all(name in out for name in ("run", "report", "diff", "matrix"))


def test_matrix_subcommand_takes_the_matrix_options(capsys):
    assert cli.main(["matrix", "--list", "--only", "torch-2.2"]) == 0
    assert capsys.readouterr().out.startswith("torch-2.2 ")
    with pytest.raises(SystemExit):
        cli.main(["matrix", "--jobs", "0"])
    assert "--jobs: must be 1 or more, got 0" in capsys.readouterr().err
