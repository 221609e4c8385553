"""The command line with fake flavour processes (they pass, crash, hang, refuse their input, or finish and
then hang): run, report, diff, bad input. No framework is needed."""
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from layerconf import cli, results, runner, suite
from tests.self.documents import VERSIONS, document, with_outcome

# Each fake gets: the path of a prepared results document, its results path, its events path.
HEAD = ("import json, os, signal, sys, time\n"
        "prepared, out, events = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]\n"
        "fw = prepared['records'][0]['framework']\n"
        "def emit(kind, **data):\n"
        "    with open(events, 'a') as f: f.write(json.dumps({'event': kind, **data}) + '\\n')\n"
        "emit('flavour', framework=fw, **prepared['metadata']['frameworks'][fw])\n"
        "emit('collected', framework=fw, checks=[{k: r[k] for k in ('framework', 'behaviour', 'family', 'params', 'check')}"
        " for r in prepared['records']])\n")
FAKES = {
    "pass": HEAD + "[emit('record', record=r) for r in prepared['records']]\njson.dump(prepared, open(out, 'w'))\n"
                   "print('all passed')",
    "crash": HEAD + "[emit('record', record=r) for r in prepared['records'][:5]]\nprint('boom: segfault in the kernel', "
                    "flush=True)\nos.kill(os.getpid(), signal.SIGSEGV)",
    "hang": HEAD + "[emit('record', record=r) for r in prepared['records'][:3]]\ntime.sleep(120)",
    "finish_then_hang": HEAD + "json.dump(prepared, open(out, 'w'))\ntime.sleep(120)",
    "refuse": "import sys; print('ERROR: torch: --device cuda: torch sees no CUDA device; its devices: cpu'); sys.exit(2)",
}


def one_flavour(name: str) -> dict:
    doc = results.merge([document()])
    doc["records"] = [r for r in doc["records"] if r["framework"] == name]
    doc["metadata"]["frameworks"] = {name: doc["metadata"]["frameworks"][name]}
    return doc


@pytest.fixture
def fakes(monkeypatch, tmp_path):
    """Choose each flavour's fake process: fakes({'torch': 'pass', 'keras-jax': 'crash'})."""
    def choose(behaviour: dict):
        prepared = {}
        for name in behaviour:
            prepared[name] = tmp_path / f"{name}-prepared.json"
            prepared[name].write_text(json.dumps(one_flavour(name if name in VERSIONS else "torch")))
        monkeypatch.setattr(runner, "available", lambda: list(behaviour))
        monkeypatch.setattr(suite, "command", lambda fw, results=None, events=None, **kw: [
            sys.executable, "-c", FAKES[behaviour[fw]], str(prepared[fw]), str(results), str(events)])
    return choose


def test_run_keeps_finished_records_of_crashed_and_hung_flavours(fakes, tmp_path, capsys):
    fakes({"torch": "pass", "keras-jax": "crash"})
    out = tmp_path / "out"
    assert cli.main(["run", "--output", str(out), "--timeout", "20", "--jobs", "2"]) == 1
    doc = results.read(out / "results.json")
    assert {fw: (r["status"], r["exit_code"]) for fw, r in doc["runs"].items()} == {
        "torch": ("completed", 0), "keras-jax": ("crashed", -11)}
    keras = [r for r in doc["records"] if r["framework"] == "keras-jax"]
    assert len(keras) == len(one_flavour("keras-jax")["records"])                   # nothing lost
    assert [r["outcome"] for r in keras[5:]] == ["not_run"] * (len(keras) - 5)       # the rest: not run, said so
    assert "boom: segfault in the kernel" in doc["runs"]["keras-jax"]["output_tail"]
    assert (out / "logs" / "keras-jax.log").read_text().startswith("boom")
    assert doc["runs"]["keras-jax"]["environment"] == {"KERAS_BACKEND": "jax",
                                                       "XLA_FLAGS": "--xla_force_host_platform_device_count=3"}
    assert "| keras-jax | 3.11.0 | cpu | CRASHED (exit -11) |" in (out / "report.md").read_text()
    err = capsys.readouterr().err
    assert "keras-jax: crashed (exit -11) in" in err and "not run" in err and "did not complete: keras-jax (crashed)" in err


def test_a_time_limit_keeps_what_was_finished(fakes, tmp_path):
    fakes({"torch": "hang", "keras-jax": "finish_then_hang"})
    assert cli.main(["run", "--output", str(tmp_path), "--timeout", "3", "--jobs", "2"]) == 1
    doc = results.read(tmp_path / "results.json")
    assert {fw: r["status"] for fw, r in doc["runs"].items()} == {"torch": "timed_out", "keras-jax": "timed_out"}
    outcomes = {fw: [r["outcome"] for r in doc["records"] if r["framework"] == fw] for fw in ("torch", "keras-jax")}
    assert outcomes["torch"][:3] != ["not_run"] * 3 and set(outcomes["torch"][3:]) == {"not_run"}
    assert "not_run" not in outcomes["keras-jax"]          # its results were written before the limit
    assert "killed after the time limit of 3 s" in doc["runs"]["torch"]["output_tail"]


def test_progress_and_summary_come_from_events_not_text(fakes, tmp_path, capsys):
    fakes({"torch": "pass"})
    assert cli.main(["run", "--output", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    counts = results.read(tmp_path / "results.json")["records"]
    assert "torch: completed (exit 0) in" in err
    assert f"{sum(r['outcome'] == 'passed' for r in counts)} passed" in err and "not applicable" in err


def test_a_refused_input_stops_the_run_and_writes_nothing(fakes, tmp_path, capsys):
    fakes({"torch": "refuse", "keras-jax": "hang"})
    (tmp_path / "results.json").write_text("previous")
    assert cli.main(["run", "--output", str(tmp_path), "--jobs", "2", "--timeout", "60"]) == 2
    assert (tmp_path / "results.json").read_text() == "previous" and not (tmp_path / "report.md").exists()
    assert "torch refused the input:\nERROR: torch: --device cuda: torch sees no CUDA device" in capsys.readouterr().err


def test_a_second_run_replaces_the_first_whole(fakes, tmp_path):
    fakes({"torch": "pass"})
    assert cli.main(["run", "--output", str(tmp_path)]) == 0
    (tmp_path / "plots" / "stale.svg").write_text("<svg/>")
    (tmp_path / "notes.txt").write_text("mine")                        # not the run's: left alone
    assert cli.main(["run", "--output", str(tmp_path)]) == 0
    assert not (tmp_path / "plots" / "stale.svg").exists() and (tmp_path / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".layerconf-")]


def test_an_interrupted_run_leaves_the_previous_output(fakes, tmp_path, monkeypatch):
    fakes({"torch": "pass"})
    assert cli.main(["run", "--output", str(tmp_path)]) == 0
    before = (tmp_path / "results.json").read_text()
    monkeypatch.setattr(cli.report, "write", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        cli.main(["run", "--output", str(tmp_path)])
    assert (tmp_path / "results.json").read_text() == before and (tmp_path / "report.md").exists()


def test_run_framework_is_the_former_name_of_flavour(fakes, tmp_path):
    """layerconf run --framework F (existing command lines and CI configurations) runs what --flavour F runs."""
    fakes({"torch": "pass", "keras-jax": "pass"})
    assert cli.main(["run", "--flavour", "torch", "--output", str(tmp_path / "new")]) == 0
    assert cli.main(["run", "--framework", "torch", "--output", str(tmp_path / "old")]) == 0
    new, old = (results.read(tmp_path / name / "results.json") for name in ("new", "old"))
    assert list(new["runs"]) == list(old["runs"]) == ["torch"] and new["records"] == old["records"]


OURS = {"behaviours": ["bn.error.eps"], "flavours": ["torch"], "versions": ">=2", "reason": "our build accepts eps=0",
        "link": "https://example.org/ours", "signature": {"kind": "no_error"}}


def test_run_gives_every_flavour_the_users_deviations(fakes, tmp_path, monkeypatch):
    fakes({"torch": "pass", "keras-jax": "pass"})
    fake = suite.command
    seen = {}
    monkeypatch.setattr(suite, "command", lambda fw, **kw: seen.setdefault(fw, kw["extra"]) and fake(fw, **kw))
    monkeypatch.chdir(tmp_path)
    Path("ours.yaml").write_text(yaml.safe_dump([OURS]))
    assert cli.main(["run", "--output", "out", "--deviations", "ours.yaml", "--no-shipped-deviations"]) == 1   # keras-jax fails
    assert seen == {fw: ["-q", "--deviations", str(tmp_path / "ours.yaml"), "--no-shipped-deviations"]
                    for fw in ("torch", "keras-jax")}


def test_run_refuses_a_users_deviations_file_that_cannot_apply_before_any_work(fakes, tmp_path, capsys):
    fakes({"torch": "pass"})
    ours = tmp_path / "ours.yaml"
    ours.write_text(yaml.safe_dump([{**OURS, "behaviours": ["bn.error.colour"]}]))
    assert cli.main(["run", "--output", str(tmp_path / "out"), "--deviations", str(ours)]) == 2
    err = capsys.readouterr().err
    assert f"layerconf: error: --deviations {ours}, entry 0: behaviours: 'bn.error.colour' is not in the catalogue" in err
    assert "layerconf run:" not in err and not (tmp_path / "out").exists()


def test_run_and_report_write_junit_and_a_summary(fakes, tmp_path, capsys):
    fakes({"torch": "pass", "keras-jax": "pass"})
    out = tmp_path / "out"
    assert cli.main(["run", "--output", str(out), "--junit", str(tmp_path / "run.xml"), "--summary", str(tmp_path / "run.md")]) == 1
    records = results.read(out / "results.json")["records"]
    root = ET.parse(tmp_path / "run.xml").getroot()
    assert [s.get("name") for s in root] == ["torch", "keras-jax"] and root.get("tests") == str(len(records))
    assert root.get("failures") == str(sum(r["outcome"] == "failed" for r in records)) == "1"
    text = (tmp_path / "run.md").read_text()
    assert "### Failing checks (1)" in text and text.endswith(f"results `{out / 'results.json'}`\n")
    assert f"junit:   {tmp_path / 'run.xml'}" in capsys.readouterr().err
    assert cli.main(["report", str(out / "results.json"), "--output", str(tmp_path / "rep"),
                     "--junit", str(tmp_path / "report.xml"), "--summary", str(tmp_path / "report.md")]) == 0
    assert (tmp_path / "report.xml").read_text() == (tmp_path / "run.xml").read_text()
    assert (tmp_path / "report.md").read_text().startswith(text.split("\n")[0])


@pytest.mark.parametrize("argv, message", [
    (["run", "--flavour", "caffe"], "--flavour must be one of"),
    (["run", "--flavour", "flax-nnx"], "--flavour: not installed here: flax-nnx (installed: torch, keras-jax)"),
    (["run", "--framework", "flax-nnx"], "--flavour: not installed here: flax-nnx"),   # the option's former name
    (["run", "--device", "cuda"], "--device cuda: keras-jax run on cpu only; select the flavours that can with --flavour (torch)"),
])
def test_run_refuses_bad_flavours_and_devices_before_any_work(fakes, argv, message, capsys):
    fakes({"torch": "pass", "keras-jax": "pass"})
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


class FakeBackend:
    """The two class methods of onnx.backend.base.Backend that --onnx-backend is checked for; prepares nothing."""

    @classmethod
    def prepare(cls, model, device="CPU"):
        raise AssertionError("the flavour processes are fakes")

    @classmethod
    def supports_device(cls, device):
        return True


def test_run_gives_the_onnx_backend_to_the_flavour_that_needs_it(fakes, tmp_path, monkeypatch):
    """Without --onnx-backend the default selection leaves onnx-backend out; with it, only its process gets it."""
    fakes({"torch": "pass", "onnx-backend": "pass"})
    fake, seen, backend = suite.command, {}, f"{__name__}:FakeBackend"
    monkeypatch.setattr(suite, "command", lambda fw, **kw: seen.setdefault(fw, kw["extra"]) and fake(fw, **kw))
    cli.main(["run", "--output", str(tmp_path / "without")])
    assert seen == {"torch": ["-q"]}
    seen.clear()
    cli.main(["run", "--output", str(tmp_path / "with"), "--onnx-backend", backend])
    assert seen == {"torch": ["-q"], "onnx-backend": ["-q", "--onnx-backend", backend]}


@pytest.mark.parametrize("argv, message", [
    (["--flavour", "onnx-backend"], "--flavour onnx-backend needs --onnx-backend module:Backend: an onnx.backend.base.Backend"),
    (["--onnx-backend", "onnxruntime"], "--onnx-backend: expected the form module:Backend, naming an onnx.backend.base.Backend "
                                        "(e.g. onnxruntime.backend.backend:OnnxRuntimeBackend), got 'onnxruntime'"),
    (["--onnx-backend", "no_such_runtime:Backend"], "--onnx-backend no_such_runtime:Backend: cannot import no_such_runtime"),
    (["--onnx-backend", "json:Backend"], "--onnx-backend json:Backend: json has no Backend; expected the form module:Backend"),
    (["--onnx-backend", "json:dumps"], "--onnx-backend json:dumps: dumps has no prepare or supports_device: not an "
                                       "onnx.backend.base.Backend"),
    (["--flavour", "torch", "--onnx-backend", "json:dumps"], "--onnx-backend: no selected flavour runs an ONNX backend (torch)"),
])
def test_run_refuses_a_missing_or_bad_onnx_backend_before_any_work(fakes, tmp_path, argv, message, capsys):
    fakes({"torch": "pass", "onnx-backend": "pass"})
    assert cli.main(["run", "--output", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "layerconf run:" not in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("make, message", [
    (lambda p: (p.write_text("x"), p)[-1], "is a file; give a folder"),
    (lambda p: (p.write_text("x"), p / "sub" / "dir")[-1], "cannot write in"),   # a folder inside a file
])
def test_run_refuses_an_unusable_output_before_any_work(fakes, tmp_path, make, message, capsys):
    fakes({"torch": "pass"})
    target = make(tmp_path / "out")
    assert cli.main(["run", "--output", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"--output {target}: {message}" in err and "layerconf run:" not in err


@pytest.mark.parametrize("argv, message", [
    (["--timeout", "abc"], "--timeout: must be a positive number of seconds, got 'abc'"),
    (["--timeout", "inf"], "--timeout: must be a positive number of seconds, got 'inf'"),
    (["--timeout", "0"], "--timeout: must be a positive number of seconds, got '0'"),
    (["--jobs", "0"], "--jobs: must be a whole number, 1 or more, got '0'"),
    (["--device", "tpu"], "--device: invalid choice: 'tpu' (choose from cpu, cuda)"),
])
def test_run_options_are_checked_by_name(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", *argv])
    assert exit_.value.code == 2 and message in capsys.readouterr().err.replace("'cpu', 'cuda'", "cpu, cuda")


def test_help_and_version():
    out = subprocess.run([sys.executable, "-m", "layerconf", "--help"], capture_output=True, text=True, check=True).stdout
    assert all(name in out for name in ("run", "report", "diff", "matrix")) and "``" not in out
    assert "Exit status: 0 when nothing fails" in out
    version = subprocess.run([sys.executable, "-m", "layerconf", "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"layerconf {cli.layerconf.__version__}"
    run_help = subprocess.run([sys.executable, "-m", "layerconf", "run", "--help"], capture_output=True, text=True).stdout
    assert "cpu or cuda" in run_help and "--jobs" in run_help


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


@pytest.mark.parametrize("argv, message", [
    (lambda d: ["diff", d["a"], d["a"], "--output", str(d["dir"] / "missing" / "x.md")], "the folder"),
    (lambda d: ["diff", d["a"], d["a"], "--output", str(d["dir"])], "is a folder; give a file name"),
    (lambda d: ["report", d["a"], "--output", d["a"]], "is a file; give a folder"),
    (lambda d: ["report", d["a"], "--output", str(d["dir"] / "r"), "--junit", str(d["dir"] / "missing" / "j.xml")],
     "--junit {dir}/missing/j.xml: the folder"),
    (lambda d: ["report", d["a"], "--output", str(d["dir"] / "r"), "--summary", str(d["dir"])], "--summary {dir}: is a folder"),
    (lambda d: ["diff", d["a"], d["other"]], "no flavour in common: OLD has ['keras-jax', 'torch'], NEW has ['onnxruntime']"),
])
def test_report_and_diff_refuse_bad_output_and_unrelated_runs(tmp_path, argv, message, capsys):
    a = results.write_document(tmp_path / "a.json", document())
    other = one_flavour("torch")
    other["metadata"]["frameworks"] = {"onnxruntime": {"version": "1.32.0", "environment": {}}}
    for r in other["records"]:
        r.update(framework="onnxruntime", version="1.32.0")
    results.write_document(tmp_path / "other.json", other)
    before = a.read_text()
    assert cli.main(argv({"a": str(a), "dir": tmp_path, "other": str(tmp_path / "other.json")})) == 2
    assert message.format(dir=tmp_path) in capsys.readouterr().err and a.read_text() == before
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("content, message", [
    (lambda text: text[: len(text) // 3], "not valid JSON (truncated?) at line"),
    (lambda text: json.dumps({"schema": "junit/2"}), "schema: expected 'layerconf.results/1', found 'junit/2'"),
    (lambda text: text.replace('"outcome": "passed"', '"outcome": "green"', 1), "records/0/outcome: 'green' is not one of"),
    (lambda text: text.replace('"worst_error": null', '"worst_error": NaN', 1), "worst_error: NaN is not a JSON number"),
    (lambda text: text.replace('"margin": null', '"margin": -Infinity', 1), "margin: -Infinity is not a JSON number"),
    (lambda text: json.dumps({**json.loads(text), "records": json.loads(text)["records"] * 2}), "duplicate record of"),
    (lambda text: json.dumps({**json.loads(text), "records": []}), "records: empty, and no runs say why"),
])
def test_report_and_diff_reject_bad_input_saying_what_and_where(tmp_path, capsys, content, message):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    results.write_document(good, document())
    bad.write_text(content(good.read_text()))
    assert cli.main(["diff", str(good), str(bad)]) == 2
    assert cli.main(["report", str(good), str(bad), "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count(f"layerconf: error: {bad}: ") == 2 and message in err
    assert not (tmp_path / "r").exists()


def test_report_writes_both_files_from_several_results(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    results.write_document(a, document())
    results.write_document(b, with_outcome(document(), "bn.train.output[layout=NC]", "torch", "failed", "2.10.0"))
    assert cli.main(["report", str(a), str(b), "--output", str(tmp_path / "r")]) == 0
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert "| torch 2.9.1+cpu |" in markdown and "| torch 2.10.0 |" in markdown


def test_matrix_subcommand_takes_the_matrix_options(capsys):
    assert cli.main(["matrix", "--list", "--only", "torch-2.2"]) == 0
    assert capsys.readouterr().out.startswith("torch-2.2 ")
    with pytest.raises(SystemExit):
        cli.main(["matrix", "--jobs", "0"])
    assert "--jobs: must be 1 or more, got 0" in capsys.readouterr().err


def test_default_jobs_follow_cores_and_memory():
    assert runner.default_jobs(64 * 10**9) == min(os.cpu_count(), 16)
    assert runner.default_jobs(5 * 10**9) == 1 and runner.default_jobs(10**9) == 1


def test_a_recovered_flavour_keeps_the_runs_seed(fakes, tmp_path):
    fakes({"keras-jax": "crash"})
    assert cli.main(["run", "--output", str(tmp_path), "--seed", "7"]) == 1
    assert results.read(tmp_path / "results.json")["metadata"]["seed"] == 7


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_stopping_a_run_stops_its_flavour_processes_and_keeps_the_output(tmp_path, how):
    """`layerconf run` in its own process, its flavours hanging: a signal ends them all and writes nothing."""
    prepared = tmp_path / "prepared.json"
    prepared.write_text(json.dumps(one_flavour("torch")))
    marker, child, driver = tmp_path / "pids", tmp_path / "child.py", tmp_path / "driver.py"
    child.write_text(f"import os\nopen({str(marker)!r}, 'a').write(f'{{os.getpid()}}\\n')\n" + FAKES["hang"])
    driver.write_text(
        "import sys\nfrom layerconf import cli, runner, suite\n"
        "runner.available = lambda: ['torch', 'keras-jax']\n"
        f"suite.command = lambda fw, results=None, events=None, **kw: [sys.executable, {str(child)!r}, {str(prepared)!r}, "
        "str(results), str(events)]\n"
        f"sys.exit(cli.main(['run', '--output', {str(tmp_path / 'out')!r}, '--jobs', '2']))\n")
    proc = subprocess.Popen([sys.executable, str(driver)], stderr=subprocess.PIPE, text=True)
    for _ in range(200):
        if marker.exists() and len(marker.read_text().split()) == 2:
            break
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(how)
    proc.wait(timeout=30)
    children = [int(p) for p in marker.read_text().split()]
    time.sleep(0.5)
    assert all(not _alive(pid) for pid in children) and not (tmp_path / "out" / "results.json").exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def test_the_suite_names_its_plugin_without_the_entry_point():
    """python -m layerconf.suite registers the plugin itself: in a checkout that is not installed, or with plugin
    autoloading off, its options still exist."""
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    out = subprocess.run([sys.executable, "-m", "layerconf.suite", "--help"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "--flavour" in out.stdout and "--device" in out.stdout
    assert "--framework" in out.stdout   # the option's former name, still accepted
