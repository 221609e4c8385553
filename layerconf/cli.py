"""The command line: layerconf run | report | diff | matrix | audit (also python -m layerconf).

run     every installed flavour (or each --flavour), one process each, --jobs at a time; writes
        DIR/results.json, DIR/report.md, DIR/report.html, DIR/plots/ and DIR/logs/ whole, once the run ends,
        and JUnit XML (--junit) and a Markdown summary for CI (--summary) where asked.
report  the Markdown report and the HTML page from one or more results files (and --junit, --summary; --audit adds
        documents of layerconf audit --json as a section "Audits of your models").
diff    what changed from OLD to NEW, as Markdown; results of different catalogues (a hash of specs/) are refused
        unless --allow-catalogue-change.
matrix  the version matrix: each flavour's versions (layerconf matrix --help).
repro   a standalone script (the framework and NumPy only) that reproduces one check on one flavour: the check's
        inputs, the reference formula in float64, the layer called as the adapter calls it; exit 1 when it differs.
audit   the training-flag layers of your own model: modes measured in your step and in inference, the reference,
        hazards and their fixes (layerconf audit --help; docs/audit.md).

Exit status: 0 when nothing fails; 1 when a check fails (run: a check failed, errored, did not run, or a
declared deviation no longer reproduces; diff: the new run fails where the old one did not); 2 on bad
input, before any work and with nothing written.
"""
import argparse
import math
import signal
import sys
import tempfile
import time
from pathlib import Path

import layerconf
import layerconf.repro
from layerconf import catalogue, ci_files, deviations, diff, flavours, onnx_backends, output, report, results, runner, specs, version_matrix
from layerconf.audit import command as audit
from layerconf.audit import document as audit_document
from layerconf.outcomes import Outcome

USAGE_ERROR = 2
RUN_FILES = ["results.json", "report.md", "report.html", "plots", "logs"]
REPORT_FILES = ["report.md", "report.html", "plots"]


class UsageError(ValueError):
    """Bad input: the message names the argument and what it allows."""


def _selected(args) -> list[str]:
    try:
        given = [onnx_backends.OPTION] if args.onnx_backend else []
        names = (list(dict.fromkeys(args.flavour)) if args.flavour else
                 [n for n in runner.available() if flavours.needed_option(n) in (None, *given)])
        for name in names:
            flavours.manifest(name), specs.profile(name)   # validated here: a flavour file another package ships too
    except (flavours.UnknownFlavour, specs.SpecError) as err:
        raise UsageError(str(err)) from err
    if missing := [n for n in names if n not in runner.available()]:
        hints = "".join(f"\n  {n}: {hint}" for n in missing if (hint := flavours.install_hint(n)))
        raise UsageError(f"--flavour: not installed here: {', '.join(missing)} "
                         f"(installed: {', '.join(runner.available()) or 'none'}){hints}")
    if not names:
        raise UsageError("no flavour installed: install one, e.g. pip install 'layerconf[torch]', or run `tox -e run`")
    if unable := [n for n in names if args.device not in flavours.devices(n)]:
        able = [n for n in names if n not in unable]
        raise UsageError(f"--device {args.device}: {', '.join(unable)} run on {' or '.join(flavours.devices(unable[0]))} "
                         f"only; select the flavours that can with --flavour ({', '.join(able) or 'none here'})")
    return names


def _deviation_options(args, names: list[str]) -> list[str]:
    """The deviations options for every flavour's process, checked here first: a declaration that names an unknown
    flavour or behaviour, or a malformed file, is a usage error before any flavour starts."""
    try:
        for name in names:
            deviations.declarations(name, args.deviations, not args.no_shipped_deviations)
    except specs.SpecError as err:
        raise UsageError(str(err)) from err
    options = [option for path in args.deviations for option in ("--deviations", str(Path(path).resolve()))]
    return options + (["--no-shipped-deviations"] if args.no_shipped_deviations else [])


def _backend_options(args, names: list[str]) -> dict[str, list[str]]:
    """--onnx-backend, checked here first (it loads), for the processes of the flavours that need it."""
    needing = [n for n in names if flavours.needed_option(n) == onnx_backends.OPTION]
    try:
        onnx_backends.checked(args.onnx_backend, names, needing)
    except onnx_backends.BadBackend as err:
        raise UsageError(str(err)) from err
    return {n: [onnx_backends.OPTION, args.onnx_backend] for n in needing}


def _write_ci_files(files: dict, documents: list[dict], links: dict) -> None:
    ci_files.write(files, documents, links)
    for option, path in files.items():
        print(f"{option.lstrip('-') + ':':<9}{path}", file=sys.stderr)


def _run(args) -> int:
    names = _selected(args)
    target = output.folder(args.output, "--output")
    audits = [audit_document.read(p) for p in args.audit]
    options, files = _deviation_options(args, names), ci_files.checked(args.junit, args.summary)
    backend = _backend_options(args, names)
    start = time.monotonic()
    print(f"layerconf run: {', '.join(names)} ({args.jobs} at a time, time limit {args.timeout:g} s each, "
          f"seed {args.seed}, device {args.device})", file=sys.stderr)
    signal.signal(signal.SIGTERM, _terminated)   # stop the flavour processes too, as an interrupt does
    with tempfile.TemporaryDirectory(prefix="layerconf-run-") as work:
        runs = runner.run_all(names, Path(work), args.timeout, args.seed, args.device, args.jobs, sys.stderr, options,
                              backend)
        if refused := [r for r in runs if r.status == "refused" and r.command]:
            raise UsageError("\n".join(f"{r.flavour} refused the input:\n" + _refusal(r) for r in refused))
        document = runner.document(runs, args.seed)
        with output.staged(target, RUN_FILES) as stage:
            path = results.write_document(stage / "results.json", document)
            report.write(stage, [document], audits)
            (stage / "logs").mkdir()
            for r in runs:
                (stage / "logs" / f"{r.flavour}.log").write_text(Path(work, f"{r.flavour}.log").read_text(errors="replace"))
    failing = [r for r in document["records"] if Outcome(r["outcome"]).failing]
    incomplete = [f"{r.flavour} ({r.status})" for r in runs if r.status != "completed"]
    print(f"results: {target / path.name}\nreport:  {target / 'report.md'}\n         {target / 'report.html'}\n"
          f"logs:    {target / 'logs'}", file=sys.stderr)
    _write_ci_files(files, [document], {"report": target / "report.md", "HTML": target / "report.html",
                                           "results": target / path.name})
    print(f"total time {time.monotonic() - start:.0f} s", file=sys.stderr)
    if incomplete:
        print(f"did not complete: {', '.join(incomplete)}", file=sys.stderr)
    if failing:
        print(f"{len(failing)} failing check(s): see the report's failures", file=sys.stderr)
    return 1 if failing or incomplete else 0


def _terminated(signum, frame):
    raise KeyboardInterrupt(f"terminated by signal {signum}")


def _refusal(run) -> str:
    lines = [line for line in run.output_tail.splitlines() if line.startswith(("ERROR:", "pytest.main(): error:"))]
    return "\n".join(lines) or run.output_tail


def _report(args) -> int:
    target = output.folder(args.output, "--output")
    files = ci_files.checked(args.junit, args.summary)
    documents = [results.read(p) for p in args.results]
    audits = [audit_document.read(p) for p in args.audit]
    if differ := catalogue.disagreement(dict(zip(args.results, documents))):
        print(f"layerconf: warning: {differ}: results of different catalogues side by side (the report says so)",
              file=sys.stderr)
    with output.staged(target, REPORT_FILES) as stage:
        report.write(stage, documents, audits)
    print(f"report: {target / 'report.md'}\n        {target / 'report.html'}", file=sys.stderr)
    _write_ci_files(files, documents, {"report": target / "report.md", "HTML": target / "report.html"})
    return 0


def _diff(args) -> int:
    destination = output.file(args.output, "--output") if args.output else None
    old, new = results.read(args.old), results.read(args.new)
    differ = catalogue.disagreement({args.old: old, args.new: new})
    if differ and not args.allow_catalogue_change:
        raise UsageError(f"{differ}: results of different catalogues (specs/ changed between the runs), so an outcome "
                         "may change with the catalogue, not the framework; --allow-catalogue-change compares them anyway")
    try:
        changes = diff.changes(old, new)
    except diff.NothingInCommon as err:
        raise UsageError(f"{args.old} and {args.new}: {err}") from err
    text = diff.to_markdown(changes, note=differ and f"different catalogues ({differ}): an outcome change may come "
                                                     "from the catalogue, not the framework")
    if destination:
        output.write_text(destination, text)
    sys.stdout.write(text)
    return 1 if changes.failing else 0


def _repro(args) -> int:
    destination = output.file(args.output, "--output") if args.output else None
    try:
        text = layerconf.repro.script(args.check, args.flavour, args.seed)
    except layerconf.repro.ReproError as err:
        raise UsageError(str(err)) from err
    if destination:
        output.write_text(destination, text)
        print(f"repro: {destination}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _usage(message: str) -> int:
    print(f"layerconf: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="layerconf", description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                                  epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"layerconf {layerconf.__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="{run,report,diff,matrix,repro,audit}")

    run = sub.add_parser("run", help="run the conformance suite for every installed flavour and write the report")
    run.add_argument("--flavour", "--framework", dest="flavour", action="append", metavar="NAME",
                     help=f"flavour to run, repeatable; one of {', '.join(flavours.names())}; default: every installed one "
                          "(--framework: its former name, the same option)")
    run.add_argument("--output", default="report", metavar="DIR",
                     help="folder for results.json, report.md, report.html, plots/ and logs/ (default: report)")
    run.add_argument("--timeout", type=_seconds, default=1800.0, metavar="SECONDS",
                     help="time limit per flavour process, a positive number (default 1800)")
    run.add_argument("--jobs", type=_count, default=runner.default_jobs(), metavar="N",
                     help=f"flavours run at once (default {runner.default_jobs()}: one per core, at most one per 4 GB)")
    run.add_argument("--seed", type=int, default=0, help="base seed for every random draw (default 0)")
    run.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                     help="device the flavours run on: cpu or cuda (default cpu)")
    run.add_argument("--deviations", action="append", default=[], metavar="PATH",
                     help="a YAML file of your own declared deviations (the schema of specs/deviations/), repeatable; "
                          "on top of the shipped ones; every flavour's process gets it")
    run.add_argument("--no-shipped-deviations", action="store_true",
                     help="leave out the shipped declarations (specs/deviations/): only those of --deviations apply")
    run.add_argument("--onnx-backend", metavar="MODULE:BACKEND",
                     help="the onnx.backend.base.Backend the onnx-backend flavour runs the ONNX models through, e.g. "
                          f"{onnx_backends.EXAMPLE}; with it, the default selection includes onnx-backend")
    _add_ci_options(run)
    _add_audit_option(run)
    run.set_defaults(handler=_run)

    rep = sub.add_parser("report", help="Markdown report and HTML page from results files")
    rep.add_argument("results", nargs="+", metavar="RESULTS", help="results JSON files (layerconf run or pytest --results)")
    rep.add_argument("--output", default="report", metavar="DIR", help="folder for report.md, report.html and plots/ (default: report)")
    _add_ci_options(rep)
    _add_audit_option(rep)
    rep.set_defaults(handler=_report)

    dif = sub.add_parser("diff", help="changes between two results files; exit 1 when the new one fails where the old did not")
    dif.add_argument("old", metavar="OLD")
    dif.add_argument("new", metavar="NEW")
    dif.add_argument("--output", metavar="FILE", help="also write the Markdown here")
    dif.add_argument("--allow-catalogue-change", action="store_true",
                     help="compare results whose catalogues (metadata/catalogue: a hash of specs/) differ; without it "
                          "they are refused (exit 2)")
    dif.set_defaults(handler=_diff)

    mat = sub.add_parser("matrix", help="run the suite over the version matrix (each flavour's manifest)")
    version_matrix.add_arguments(mat)
    mat.set_defaults(handler=version_matrix.execute)

    rpr = sub.add_parser("repro", help="a standalone script that reproduces one check on one flavour (exit 1 while it differs)")
    rpr.add_argument("check", metavar="CHECK_ID", help="a check id, e.g. 'bn.error.momentum[layout=NC]'")
    rpr.add_argument("--flavour", "--framework", dest="flavour", required=True, metavar="NAME",
                     help=f"the flavour; generators for {', '.join(layerconf.repro.FRAMEWORKS)}")
    rpr.add_argument("--seed", type=int, default=0, help="the suite's base seed the check's inputs derive from (default 0)")
    rpr.add_argument("--output", metavar="PATH", help="write the script here (default: standard output)")
    rpr.set_defaults(handler=_repro)
    aud = sub.add_parser("audit", help="audit the training-flag layers of your own model (docs/audit.md)",
                         description=audit.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    audit.add_arguments(aud)
    aud.set_defaults(handler=audit.execute)
    return top


def _add_ci_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--junit", metavar="FILE", help="also write JUnit XML here: one testcase per check, declared "
                                                     "deviations skipped with their reason")
    sub.add_argument("--summary", metavar="FILE", help="also write a short Markdown summary here (for a CI step summary: "
                                                       "counts, failing checks, stale deviations)")


def _add_audit_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--audit", action="append", default=[], metavar="FILE",
                     help="a document of layerconf audit --json (an audit or a --compare), repeatable: the report's "
                          "section \"Audits of your models\" shows each")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number, 1 or more, got {text!r}")
    return int(text)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, output.OutputError, results.ResultsError, specs.SpecError, audit_document.DocumentError) as err:
        return _usage(str(err))
