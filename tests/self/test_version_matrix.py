"""layerconf.version_matrix: the definition, --list, cache keys, version order, the combined report. No framework,
no network: building is only exercised through an environment already marked as built."""
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from layerconf import specs, version_matrix

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "layerconf-matrix.yml"


def environments():
    return version_matrix.load()


def test_definition_covers_the_versions_the_matrix_promises():
    pins = {e.id: e.requirements for e in environments()}
    assert pins["torch-2.2"][0] == "torch==2.2.*" and "numpy<2" in pins["torch-2.2"]
    for required in ("torch-2.5", "torch-2.8", "torch-newest", "tf-keras-2.16", "tf-keras-newest",
                     "flax-linen-0.10", "flax-linen-newest", "flax-nnx-0.11", "flax-nnx-newest",
                     "onnxruntime-1.17", "onnxruntime-newest"):
        assert required in pins
    for backend in ("keras-tensorflow", "keras-jax"):
        for version in ("3.0", "3.5", "3.10", "newest"):
            keras = pins[f"{backend}-{version}"]
            assert keras[0] == ("keras" if version == "newest" else f"keras=={version}.*")
            assert len(keras) >= 2  # the backend is pinned to a version that suits that Keras


def test_environments_come_from_the_manifests_with_unique_ids_and_reasons():
    envs = environments()
    assert len({e.id for e in envs}) == len(envs)
    assert all(len(why) >= 10 for e in envs for _, why in e.pins)
    labels = {name: [*m, *[version_matrix.PRE] * ("newest" in m)]
              for name in specs.flavour_names() for m in [specs.manifest(name)["matrix"]]}
    assert {(e.id, e.flavour) for e in envs} == {(f"{name}-{label}", name) for name, ls in labels.items() for label in ls}
    assert {e.python for e in envs} == {"3.11"}


def test_every_flavour_with_newest_pins_gets_a_pre_environment_with_pre_releases(monkeypatch):
    monkeypatch.delenv(version_matrix.INDEX_URL, raising=False)
    envs = {e.id: e for e in environments()}
    for name in (n for n in specs.flavour_names() if "newest" in specs.manifest(n)["matrix"]):
        pre, newest = envs[f"{name}-pre"], envs[f"{name}-newest"]
        assert (pre.pins, pre.pre, newest.pre) == (newest.pins, True, False)
    assert version_matrix.installer_options(envs["torch-pre"]) == ("--prerelease", "allow")
    assert version_matrix.installer_options(envs["torch-newest"]) == ()


def test_a_manifests_own_pre_entry_takes_the_place_of_the_derived_one(monkeypatch):
    own = {"matrix": {"2.8": [{"requirement": "torch==2.8.*", "why": "a series"}],
                      "pre": [{"requirement": "torch==2.12.0.dev20260101", "why": "one nightly"}],
                      "newest": [{"requirement": "torch", "why": "the newest"}]}}
    monkeypatch.setattr(version_matrix.flavours, "names", lambda: ["torch"])
    monkeypatch.setattr(version_matrix.specs, "manifest", lambda name: own)
    envs = environments()
    assert [(e.id, e.requirements, e.pre) for e in envs] == [("torch-2.8", ("torch==2.8.*",), False),
                                                             ("torch-pre", ("torch==2.12.0.dev20260101",), False),
                                                             ("torch-newest", ("torch",), False)]


def test_an_index_url_reaches_uv_and_the_cache_key(monkeypatch, tmp_path):
    monkeypatch.delenv(version_matrix.INDEX_URL, raising=False)
    envs = {e.id: e for e in environments()}
    project = version_matrix.project_requirements()
    plain = {name: version_matrix.cache_key(envs[name], project) for name in ("torch-newest", "torch-pre")}
    assert plain["torch-newest"] != plain["torch-pre"]
    url = "https://download.pytorch.org/whl/nightly/cpu"
    monkeypatch.setenv(version_matrix.INDEX_URL, url)
    assert version_matrix.installer_options(envs["torch-pre"]) == ("--prerelease", "allow", "--extra-index-url", url)
    assert version_matrix.cache_key(envs["torch-pre"], project) != plain["torch-pre"]
    calls = []

    def uv(*args, log=None):   # records the call; `uv venv` makes the folder
        calls.append(args)
        if args[0] == "venv":
            Path(args[-1]).mkdir()
    monkeypatch.setattr(version_matrix, "_uv", uv)
    monkeypatch.setattr(version_matrix.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=""))
    version_matrix.build(envs["torch-pre"], tmp_path, project)
    install = calls[1]
    assert install[:2] == ("pip", "install") and install[4:8] == ("--prerelease", "allow", "--extra-index-url", url)
    assert install[-2:] == ("torch", "torchvision")


def test_select_names_unknown_environments():
    envs = environments()
    assert [e.id for e in version_matrix.select(envs, ["torch-2.8", "torch-2.2"])] == ["torch-2.8", "torch-2.2"]
    with pytest.raises(specs.SpecError, match=r"unknown environment\(s\) \['torch-1.0'\]"):
        version_matrix.select(envs, ["torch-1.0"])


def test_list_prints_one_line_per_environment(capsys):
    assert version_matrix.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    envs = environments()
    assert [line.split()[0] for line in lines] == [e.id for e in envs]
    torch_22 = next(line for line in lines if line.startswith("torch-2.2 "))
    assert torch_22.split()[1:4] == ["torch", "python", "3.11"] and torch_22.endswith("torch==2.2.* torchvision==0.17.* numpy<2")


def test_jobs_must_be_positive():
    with pytest.raises(SystemExit):
        version_matrix.parse(["--jobs", "0"])


def test_cache_key_depends_on_what_is_installed_only(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    project = ("-e", str(tmp_path))
    env = version_matrix.Environment("a", "torch", "3.11", (("torch==2.5.*", "why"), ("numpy<2", "why")))
    key = version_matrix.cache_key(env, project)
    reordered = version_matrix.Environment("b", "torch", "3.11", (("numpy<2", "other words"), ("torch==2.5.*", "why")))
    assert version_matrix.cache_key(reordered, project) == key
    assert version_matrix.cache_key(version_matrix.Environment("a", "torch", "3.12", env.pins), project) != key
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\ndependencies = ['numpy']\n")
    assert version_matrix.cache_key(env, project) != key   # the project's own requirements changed


def test_cache_key_is_the_same_in_another_process():
    env = environments()[0]
    code = ("from layerconf import version_matrix; e = version_matrix.load()[0]; "
            "print(version_matrix.cache_key(e, version_matrix.project_requirements()))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env=dict(os.environ, PYTHONHASHSEED="123"))
    assert other.stdout.strip() == version_matrix.cache_key(env, version_matrix.project_requirements())


def test_the_matrix_needs_a_source_checkout(tmp_path):
    assert version_matrix.project_requirements() == ("-e", str(version_matrix.default_source()))
    with pytest.raises(specs.SpecError, match="from a source checkout"):
        version_matrix.project_requirements(tmp_path)


def test_a_built_environment_is_reused(tmp_path):
    env = environments()[0]
    project = version_matrix.project_requirements()
    path = tmp_path / f"{env.id}-{version_matrix.cache_key(env, project)}"
    path.mkdir()
    (path / version_matrix.MARKER).write_text("{}")
    assert version_matrix.build(env, tmp_path, project) == {"path": str(path), "key": version_matrix.cache_key(env, project),
                                                    "build_s": 0.0, "reused": True}


def test_disk_usage_counts_hard_links_once_and_not_as_own(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 10000)
    os.link(tmp_path / "a", tmp_path / "b")
    (tmp_path / "c").write_bytes(b"y" * 10000)
    total, own = version_matrix.disk_usage(tmp_path)
    one = os.stat(tmp_path / "c").st_blocks * 512
    assert (total, own) == (2 * one, one)


def test_suite_runs_with_the_flavours_environment():
    env = version_matrix.Environment("keras-jax-3.0", "keras-jax", "3.11", (("keras==3.0.*", "why"),))
    command = version_matrix.suite_command(env, Path("/venv/bin/python"), Path("/out/keras-jax-3.0.json"))
    assert command[:5] == ["/venv/bin/python", "-m", "layerconf.suite", "--flavour", "keras-jax"]
    assert command[5:7] == ["--results", "/out/keras-jax-3.0.json"]
    variables = version_matrix.suite_environment(env, Path("/venv"))
    assert variables["KERAS_BACKEND"] == "jax" and variables["PATH"].startswith("/venv/bin")


def test_broken_runs_are_named():
    assert version_matrix.broken({"id": "x", "exit_code": 1, "results": "x.json"}) is None
    assert "exited 4" in version_matrix.broken({"id": "x", "exit_code": 4, "results": None})
    assert version_matrix.broken({"id": "x", "build_error": "uv exited 1"}) == "uv exited 1"


# --- the comparison ---------------------------------------------------------------------------------------

def document(flavour_versions: dict, outcomes: dict, observed: dict | None = None) -> dict:
    """A results document: flavour -> version, check -> outcome (every flavour gets every check)."""
    records = [{"framework": f, "version": v, "behaviour": c.split("[")[0], "family": "bn", "params": {},
                "check": c, "outcome": o, "observed": (observed or {}).get(c, {})}
               for f, v in flavour_versions.items() for c, o in outcomes.items()]
    meta = {"frameworks": {f: {"version": v, "environment": {}} for f, v in flavour_versions.items()}}
    return {"schema": "layerconf.results/1", "metadata": meta, "records": records}


@dataclass
class FakeChanges:
    old_version: str
    new_version: str
    regressions: list = field(default_factory=list)
    stale_declarations: list = field(default_factory=list)
    fixes: list = field(default_factory=list)
    new: list = field(default_factory=list)
    removed: list = field(default_factory=list)


def fake_compare(old, new):
    """Outcome changes between two single-flavour documents, recorded with both versions."""
    (old_fw,), (new_fw,) = old["metadata"]["frameworks"].values(), new["metadata"]["frameworks"].values()
    changes = FakeChanges(old_fw["version"], new_fw["version"])
    before = {r["check"]: r["outcome"] for r in old["records"]}
    for r in new["records"]:
        if before.get(r["check"]) == "passed" and r["outcome"] == "failed":
            changes.regressions.append(r["check"])
        if before.get(r["check"]) == "failed" and r["outcome"] == "passed":
            changes.fixes.append(r["check"])
    return changes


def test_versions_are_ordered_by_pep440_not_by_text_or_environment_id():
    docs = {"torch-newest": document({"torch": "2.10.0+cu128"}, {}), "torch-2.9": document({"torch": "2.9.1"}, {}),
            "torch-2.2": document({"torch": "2.2.2+cu121"}, {}), "other": document({"onnxruntime": "1.17.3"}, {})}
    assert version_matrix.versions_in_order(docs, "torch") == [("torch-2.2", "2.2.2+cu121"), ("torch-2.9", "2.9.1"),
                                                       ("torch-newest", "2.10.0+cu128")]


def test_steps_compare_consecutive_versions_of_each_flavour_alone():
    docs = {"b": document({"torch": "2.8.0"}, {"bn.x": "failed", "bn.y": "passed"}),
            "a": document({"torch": "2.5.1"}, {"bn.x": "passed", "bn.y": "failed"}),
            "c": document({"torch": "2.9.0", "onnxruntime": "1.0"}, {"bn.x": "failed", "bn.y": "passed"})}
    found = version_matrix.steps(docs, fake_compare)
    assert [(s.flavour, s.old_env, s.new_env) for s in found] == [("torch", "a", "b"), ("torch", "b", "c")]
    assert (found[0].changes.regressions, found[0].changes.fixes) == (["bn.x"], ["bn.y"])
    assert found[1].changes.regressions == found[1].changes.fixes == []
    assert {r["framework"] for r in version_matrix.only_flavour(docs["c"], "torch")["records"]} == {"torch"}


def test_combined_report_puts_changes_first_then_versions_side_by_side():
    docs = {"torch-2.5": document({"torch": "2.5.1"}, {"bn.x": "passed", "bn.y": "passed", "do.z": "passed"},
                                  {"do.z": {"drop_fraction": 0.25}, "bn.y": {"decay": 0.9000000000000002}}),
            "torch-2.8": document({"torch": "2.8.0"}, {"bn.x": "failed", "bn.y": "passed", "do.z": "passed"},
                                  {"do.z": {"drop_fraction": 0.26}, "bn.y": {"decay": 0.9}})}  # last-bit noise is no change
    runs = [{"id": "torch-2.5", "build_s": 61.0, "reused": False, "run_s": 30.0, "exit_code": 0, "results": "r",
             "disk_bytes": 5e9, "disk_own_bytes": 2e7},
            {"id": "torch-2.8", "build_error": "uv exited 1"}]
    text = version_matrix.combined_markdown(docs, runs, version_matrix.steps(docs, fake_compare),
                                    lambda c: "REGRESSED: " + ", ".join(c.regressions))
    changes, side_by_side, envs = (text.index(h) for h in ("## Changes", "## Versions side by side", "## Environments"))
    assert changes < side_by_side < envs
    assert "| torch | 2.5.1 | 2.8.0 | 1 | 0 | 0 | 0 | 0 |" in text and "REGRESSED: bn.x" in text
    assert "| `bn.x` | passed | failed |" in text and "`bn.y`" not in text  # only checks that differ
    assert "| passed | 3 | 2 |" in text
    assert '| `do.z` | {"drop_fraction": 0.25} | {"drop_fraction": 0.26} |' in text and "decay" not in text
    assert "| torch-2.5 | 61.0 | False | 30.0 | 5000 | 20 | 0 |  |" in text
    assert text.rstrip().endswith("| torch-2.8 | — | — | — | — | — | — | uv exited 1 |")


# --- the CI workflow --------------------------------------------------------------------------------------

def test_workflow_takes_its_jobs_from_the_definition_and_gates_on_diff():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    text = WORKFLOW.read_text()
    assert "layerconf matrix --list" in text  # the job list comes from the definition, not a copy of it
    run_job = workflow["jobs"]["run"]
    assert run_job["strategy"]["fail-fast"] is False
    steps = " ".join(str(s.get("run", "")) + str(s.get("uses", "")) for s in run_job["steps"])
    assert '--only "${{ matrix.environment }}"' in steps and "actions/upload-artifact" in steps
    assert "diff" in steps and "--combine" in " ".join(str(s.get("run", "")) for s in workflow["jobs"]["report"]["steps"])
    json.dumps(workflow)  # plain data all the way down
