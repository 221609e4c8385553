"""The version matrix: one uv environment per version in a flavour's manifest (specs/flavours/*.yaml,
``matrix``), the suite run in each, and the changes between consecutive versions of every flavour.

An environment holds the project from this source checkout (installed editable, with its dependencies)
plus the entry's pins. Environments live in the cache directory as <id>-<key>, key = hash of the Python
version, pyproject.toml and the pins; a directory holding the marker file is complete and reused,
anything else is rebuilt.

Every flavour also gets the label ``pre``, derived here rather than written in its manifest (a manifest's own
``pre`` entry takes its place): the ``newest`` entry's requirements with pre-releases allowed (uv ``--prerelease
allow``, pip's ``--pre``). LAYERCONF_INDEX_URL, where set, names one more package index every environment built or
resolved in that process installs from (uv ``--extra-index-url``): with it, a nightly build is one environment, e.g.
LAYERCONF_INDEX_URL=https://download.pytorch.org/whl/nightly/cpu layerconf matrix --only torch-pre.

Output directory: <id>.json (the results), <id>.log (pytest's output), <id>.run.json (build and run
times, disk use, exit code), matrix.md (the combined report).
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

import layerconf
from layerconf import flavours, results, specs, suite

DEFINITION = specs.DIRECTORY / "matrix.yaml"
PRE = "pre"                       # the label derived for every flavour from its "newest" entry
INDEX_URL = "LAYERCONF_INDEX_URL"  # environment variable: an extra package index (a nightly build's)


def default_source() -> Path:
    """The checkout the package runs from (a clone, or an editable install), else the current directory."""
    here = Path(layerconf.__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()
MARKER = "layerconf-matrix-built.json"
SUITE_OUTCOMES = (0, 1)  # pytest: all passed / some checks failed; anything else means the run broke


@dataclass(frozen=True)
class Environment:
    id: str
    flavour: str
    python: str
    pins: tuple[tuple[str, str], ...]  # (requirement, why)
    pre: bool = False                  # pre-releases allowed

    @property
    def requirements(self) -> tuple[str, ...]:
        return tuple(requirement for requirement, _ in self.pins)


def load(path: Path = DEFINITION) -> list[Environment]:
    """Every flavour's matrix versions as environments <flavour>-<label>, flavours in name order, versions
    in manifest order, then the derived ``pre`` (the ``newest`` requirements, pre-releases allowed) where the
    manifest has no ``pre`` of its own; the Python version comes from ``path``."""
    python = specs.load_yaml(path, "matrix")["python"]
    environments = []
    for name in flavours.names():
        matrix = specs.manifest(name)["matrix"]
        pins = {label: tuple((p["requirement"], p["why"]) for p in entries) for label, entries in matrix.items()}
        environments += [Environment(f"{name}-{label}", name, python, entries) for label, entries in pins.items()]
        if PRE not in pins and "newest" in pins:
            environments.append(Environment(f"{name}-{PRE}", name, python, pins["newest"], pre=True))
    return environments


def installer_options(env: Environment) -> tuple[str, ...]:
    """uv's options for ``env``: --prerelease allow where it allows pre-releases, --extra-index-url where
    LAYERCONF_INDEX_URL is set."""
    url = os.environ.get(INDEX_URL)
    return (("--prerelease", "allow") if env.pre else ()) + (("--extra-index-url", url) if url else ())


def select(environments: list[Environment], only: list[str] | None) -> list[Environment]:
    """The environments named in ``only`` (all when None); an unknown name is an error listing the known."""
    if not only:
        return environments
    known = {e.id: e for e in environments}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise specs.SpecError(f"--only: unknown environment(s) {unknown}; the definition has {sorted(known)}")
    return [known[name] for name in only]


def project_requirements(source: Path | None = None) -> tuple[str, ...]:
    """What every environment installs besides its pins: the checkout ``source`` (default_source), editable,
    its dependencies with it."""
    source = default_source() if source is None else source
    if not (source / "pyproject.toml").exists():
        raise specs.SpecError(f"{source}: layerconf matrix builds environments from a source checkout "
                              "(pyproject.toml); run it from a clone of the repository")
    return ("-e", str(source))


def cache_key(env: Environment, project: tuple[str, ...]) -> str:
    """Hash of what the environment installs: the same Python, pyproject.toml, pins (in any order) and installer
    options give the same key."""
    pyproject = Path(project[-1], "pyproject.toml")
    installs = {"python": env.python, "project": pyproject.read_text() if pyproject.exists() else project,
                "requirements": sorted(env.requirements)}
    if options := installer_options(env):   # absent without options: the keys of environments built before stay
        installs["options"] = list(options)
    text = json.dumps(installs)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def list_lines(environments: list[Environment]) -> list[str]:
    """One line per environment: id, flavour, Python, pins and installer options."""
    width = max(len(e.id) for e in environments)
    return [f"{e.id:<{width}}  {e.flavour}  python {e.python}  {' '.join(e.requirements + installer_options(e))}"
            for e in environments]


def disk_usage(path: Path) -> tuple[int, int]:
    """(bytes on disk, bytes not hard-linked from elsewhere, e.g. uv's cache); each inode counted once."""
    total = own = 0
    seen = set()
    for directory, _, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(directory, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
            own += st.st_blocks * 512 if st.st_nlink == 1 else 0
    return total, own


def _uv(*args: str, log=None) -> None:
    subprocess.run(["uv", *args], check=True, stdout=log, stderr=subprocess.STDOUT if log else None)


def build(env: Environment, cache: Path, project: tuple[str, ...], rebuild: bool = False, log=None) -> dict:
    """Create the environment once (uv venv + uv pip install) or reuse it; {path, key, build_s, reused}."""
    key = cache_key(env, project)
    path = cache / f"{env.id}-{key}"
    marker = path / MARKER
    if marker.exists() and not rebuild:
        return {"path": str(path), "key": key, "build_s": 0.0, "reused": True}
    shutil.rmtree(path, ignore_errors=True)
    start = time.perf_counter()
    _uv("venv", "--quiet", "--python", env.python, str(path), log=log)
    _uv("pip", "install", "--python", str(python_of(path)), *installer_options(env), *project, *env.requirements, log=log)
    seconds = time.perf_counter() - start
    frozen = subprocess.run(["uv", "pip", "freeze", "--python", str(python_of(path))],
                            check=True, capture_output=True, text=True).stdout.split()
    marker.write_text(json.dumps({"id": env.id, "key": key, "requirements": [*project, *env.requirements],
                                  "options": list(installer_options(env)),
                                  "installed": frozen, "build_s": seconds}, indent=1))
    return {"path": str(path), "key": key, "build_s": seconds, "reused": False}


def python_of(path: Path) -> Path:
    return Path(path) / "bin" / "python"


def suite_command(env: Environment, python: Path, results_path: Path) -> list[str]:
    return suite.command(env.flavour, results=results_path, extra=["-q"], python=str(python))


def suite_environment(env: Environment, venv: Path) -> dict:
    """This process's environment with the venv activated and the flavour's environment variables set."""
    out = dict(os.environ, VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               **flavours.environment(env.flavour))
    out.pop("PYTHONHOME", None)
    return out


def run_environment(env: Environment, cache: Path, output: Path, project: tuple[str, ...], rebuild: bool) -> dict:
    """Build (or reuse) ``env``, run the suite in it; write and return its <id>.run.json record."""
    output.mkdir(parents=True, exist_ok=True)
    results_path, log_path = output / f"{env.id}.json", output / f"{env.id}.log"
    results_path.unlink(missing_ok=True)
    record = {"id": env.id, "flavour": env.flavour, "python": env.python,
              "requirements": list(env.requirements), "options": list(installer_options(env))}
    with log_path.open("w") as log:
        try:
            record.update(build(env, cache, project, rebuild, log))
        except subprocess.CalledProcessError as err:
            record.update(build_error=f"{err.cmd[:3]} exited {err.returncode}; see {log_path}")
            return _write_run(output, record)
        start = time.perf_counter()
        venv = Path(record["path"])
        completed = subprocess.run(suite_command(env, python_of(venv), results_path),
                                   env=suite_environment(env, venv), stdout=log, stderr=subprocess.STDOUT)
    record.update(run_s=time.perf_counter() - start, exit_code=completed.returncode,
                  results=results_path.name if results_path.exists() else None)
    record["disk_bytes"], record["disk_own_bytes"] = disk_usage(venv)
    return _write_run(output, record)


def _write_run(output: Path, record: dict) -> dict:
    (output / f"{record['id']}.run.json").write_text(json.dumps(record, indent=1))
    return record


def broken(record: dict) -> str | None:
    """Why an environment's run produced no usable results, or None."""
    if "build_error" in record:
        return record["build_error"]
    if record["exit_code"] not in SUITE_OUTCOMES or record["results"] is None:
        return f"the suite exited {record['exit_code']}; see {record['id']}.log"
    return None


# --- the comparison -------------------------------------------------------------------------------------

@dataclass
class Step:
    """Two consecutive versions of one flavour's framework and what changed between them."""

    flavour: str
    old_env: str
    new_env: str
    old_version: str
    new_version: str
    changes: object  # the diff module's Changes: lists regressions, fixes, new, removed


def version_of(document: dict, flavour: str) -> str:
    return results.flavours_in(document)[flavour]["version"]


def only_flavour(document: dict, flavour: str) -> dict:
    """The results document restricted to one flavour's records and metadata."""
    meta = dict(document["metadata"], frameworks={flavour: results.flavours_in(document)[flavour]})
    return dict(document, metadata=meta, records=[r for r in document["records"] if results.flavour_of(r) == flavour])


def versions_in_order(documents: dict[str, dict], flavour: str) -> list[tuple[str, str]]:
    """(environment id, version) of every document that ran ``flavour``, oldest version first
    (PEP 440 order of the public version: 2.10 after 2.9, +cpu ignored)."""
    found = [(env_id, version_of(doc, flavour)) for env_id, doc in documents.items()
             if flavour in results.flavours_in(doc)]
    return sorted(found, key=lambda item: (Version(Version(item[1]).public), item[0]))


def steps(documents: dict[str, dict], changes_of) -> list[Step]:
    """``changes_of(old, new)`` over consecutive versions of each flavour, flavours in name order."""
    out = []
    for name in _flavours(documents):
        ordered = versions_in_order(documents, name)
        for (old_env, old_v), (new_env, new_v) in zip(ordered, ordered[1:]):
            changes = changes_of(only_flavour(documents[old_env], name), only_flavour(documents[new_env], name))
            out.append(Step(name, old_env, new_env, old_v, new_v, changes))
    return out


CHANGE_KINDS = ("regressions", "stale_declarations", "fixes", "new", "removed")


def _flavours(documents: dict[str, dict]) -> list[str]:
    """Every flavour that ran in any of the documents, in name order."""
    return sorted({name for doc in documents.values() for name in results.flavours_in(doc)})


def outcome_table(documents: dict[str, dict], flavour: str) -> list[str]:
    """Markdown: one column per version, outcome counts, then every check whose outcome differs."""
    ordered = versions_in_order(documents, flavour)
    outcomes = {env_id: {r["check"]: r["outcome"] for r in documents[env_id]["records"] if results.flavour_of(r) == flavour}
                for env_id, _ in ordered}
    header = ["| | " + " | ".join(f"{v} ({e})" for e, v in ordered) + " |", "|---" * (len(ordered) + 1) + "|"]
    kinds = sorted({o for per_env in outcomes.values() for o in per_env.values()})
    counts = [f"| {kind} | " + " | ".join(str(sum(o == kind for o in outcomes[e].values())) for e, _ in ordered) + " |"
              for kind in kinds]
    checks = sorted({c for per_env in outcomes.values() for c in per_env})
    differing = [c for c in checks if len({outcomes[e].get(c) for e, _ in ordered}) > 1]
    rows = [f"| `{c}` | " + " | ".join(outcomes[e].get(c, "—") for e, _ in ordered) + " |" for c in differing]
    same = len(checks) - len(differing)
    return [*header, *counts, "", f"Checks whose outcome differs between versions ({len(differing)}; "
            f"{same} have the same outcome in every version):", "", *header[:2], *rows,
            *observed_table(documents, flavour, ordered, header[:2])]


def observed_table(documents: dict[str, dict], flavour: str, ordered, header) -> list[str]:
    """Markdown rows for checks whose observed values (measured decay, drop fraction, ...) differ between
    versions: a change in behaviour the outcome does not show (e.g. another random stream for one seed)."""
    observed = {env_id: {r["check"]: r["observed"] for r in documents[env_id]["records"]
                         if results.flavour_of(r) == flavour and r.get("observed")} for env_id, _ in ordered}
    checks = sorted({c for per_env in observed.values() for c in per_env})
    show = lambda value: json.dumps(_significant(value), sort_keys=True) if value is not None else "—"  # noqa: E731
    rows = [f"| `{c}` | " + " | ".join(show(observed[e].get(c)) for e, _ in ordered) + " |" for c in checks
            if len({show(observed[e].get(c)) for e, _ in ordered}) > 1]
    return ["", f"Checks whose observed values differ between versions ({len(rows)}):", "", *header, *rows] if rows else []


def _significant(value, digits: int = 10):
    """``value`` with every float rounded to ``digits`` significant digits (inside lists and dicts too):
    a last-bit difference from another summation order is not a change in behaviour."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, list):
        return [_significant(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: _significant(v, digits) for k, v in value.items()}
    return value


def combined_markdown(documents: dict[str, dict], runs: list[dict], found: list[Step], changes_markdown) -> str:
    """The combined report: changes between consecutive versions first (regressions and fixes), then the
    versions side by side, then the build/run benchmark. ``changes_markdown`` renders one Changes."""
    lines = ["# layerconf version matrix", "", "## Changes between consecutive versions", ""]
    summary = ["| flavour | from | to | " + " | ".join(CHANGE_KINDS) + " |", "|---" * (3 + len(CHANGE_KINDS)) + "|"]
    summary += [f"| {s.flavour} | {s.old_version} | {s.new_version} | "
                + " | ".join(str(len(getattr(s.changes, k))) for k in CHANGE_KINDS) + " |" for s in found]
    lines += summary if found else ["No flavour ran in two versions."]
    for s in found:
        lines += ["", f"### {s.flavour} {s.old_version} -> {s.new_version} ({s.old_env} -> {s.new_env})", "",
                  changes_markdown(s.changes).strip()]
    lines += ["", "## Versions side by side"]
    for name in _flavours(documents):
        lines += ["", f"### {name}", "", *outcome_table(documents, name)]
    lines += ["", "## Environments", "", "| environment | build (s) | reused | suite (s) | disk (MB) | "
              "disk not shared with uv's cache (MB) | exit | problem |", "|---" * 8 + "|"]
    for r in runs:
        mb = {key: f"{r[key] / 1e6:.0f}" if key in r else "—" for key in ("disk_bytes", "disk_own_bytes")}
        seconds = {key: f"{r[key]:.1f}" if key in r else "—" for key in ("build_s", "run_s")}
        lines.append(f"| {r['id']} | {seconds['build_s']} | {r.get('reused', '—')} | {seconds['run_s']} | "
                     f"{mb['disk_bytes']} | {mb['disk_own_bytes']} | {r.get('exit_code', '—')} | {broken(r) or ''} |")
    return "\n".join(lines) + "\n"


def combine(output: Path, environments: list[Environment], changes_of, changes_markdown) -> Path:
    """Read each environment's <id>.run.json and results from ``output``; write matrix.md there."""
    runs = [json.loads((output / f"{e.id}.run.json").read_text()) for e in environments
            if (output / f"{e.id}.run.json").exists()]
    documents = {r["id"]: results.read(output / r["results"]) for r in runs if not broken(r)}
    report = output / "matrix.md"
    report.write_text(combined_markdown(documents, runs, steps(documents, changes_of), changes_markdown))
    return report


# --- command line ---------------------------------------------------------------------------------------

def resolve(env: Environment, project: tuple[str, ...]) -> str:
    """uv pip compile of the environment's requirements (nothing installed): 'pkg==v ...' or the error."""
    done = subprocess.run(["uv", "pip", "compile", "--quiet", "--no-header", "--no-annotate", "--python-version", env.python,
                           *installer_options(env), "-"], input="\n".join([" ".join(project), *env.requirements]),
                          capture_output=True, text=True)
    return " ".join(done.stdout.split()) if done.returncode == 0 else "UNRESOLVABLE: " + done.stderr.strip()


def progress(record: dict) -> str:
    reused = " (reused)" if record["reused"] else ""
    return f"build {record['build_s']:.0f}s{reused}, suite {record['run_s']:.0f}s, exit {record['exit_code']}"


def parse(argv):
    parser = argparse.ArgumentParser(prog="layerconf matrix", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return parser.parse_args(argv)


def _at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The matrix options, for this module's own parser and the `layerconf matrix` subcommand."""
    parser.add_argument("--definition", type=Path, default=DEFINITION, help="the matrix definition (YAML)")
    parser.add_argument("--list", action="store_true", help="print one line per environment and exit")
    parser.add_argument("--resolve", action="store_true", help="resolve each environment with uv pip compile, install nothing")
    parser.add_argument("--only", nargs="+", metavar="ENV", help="only these environments")
    parser.add_argument("--output", type=Path, default=Path("results", "matrix"), help="results directory (default results/matrix)")
    parser.add_argument("--cache", type=Path, default=Path(".matrix"), help="where the environments are kept (default .matrix)")
    parser.add_argument("--jobs", type=_at_least_one, default=1, help="environments built and run at once (default 1)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the environments even when cached")
    parser.add_argument("--combine", action="store_true",
                        help="build and run nothing: combine the results already in --output (e.g. from parallel CI jobs)")


def main(argv=None, changes_of=None, changes_markdown=None) -> int:
    """Exit status 0 when every environment built and ran the suite (failed checks included), 1 otherwise.
    ``changes_of``/``changes_markdown`` default to the diff module's changes and to_markdown."""
    return execute(parse(argv), changes_of, changes_markdown)


def execute(args, changes_of=None, changes_markdown=None) -> int:
    """Run the matrix for parsed ``args`` (see main)."""
    try:
        environments = select(load(args.definition), args.only)
    except specs.SpecError as err:
        print(err, file=sys.stderr)
        return 2
    if args.list:
        print("\n".join(list_lines(environments)))
        return 0
    project = project_requirements()
    if args.resolve:
        lines = [f"{e.id}: {resolve(e, project)}" for e in environments]
        print("\n".join(lines))
        return int(any("UNRESOLVABLE" in line for line in lines))
    if changes_of is None or changes_markdown is None:
        from layerconf import diff
        changes_of, changes_markdown = changes_of or diff.changes, changes_markdown or diff.to_markdown
    if not args.combine:
        args.cache.mkdir(parents=True, exist_ok=True)
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            for record in pool.map(lambda e: run_environment(e, args.cache, args.output, project, args.rebuild),
                                   environments):
                print(f"{record['id']}: {broken(record) or progress(record)}")
    report = combine(args.output, environments, changes_of, changes_markdown)
    print(f"combined report: {report}")
    runs = [json.loads((args.output / f"{e.id}.run.json").read_text()) for e in environments
            if (args.output / f"{e.id}.run.json").exists()]
    return int(len(runs) < len(environments) or any(broken(r) for r in runs))


if __name__ == "__main__":
    sys.exit(main())
