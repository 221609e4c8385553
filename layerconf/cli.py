"""The command line: ``layerconf run | report | diff`` (also ``python -m layerconf``).

run     every installed framework (or each --framework), one process each; writes DIR/results.json,
        DIR/report.md, DIR/report.html. Exit 0 when every framework completed with no failing check,
        1 when a check failed or a framework crashed or timed out, 2 on a usage error.
report  the Markdown report and the HTML page from one or more results files.
diff    what changed from OLD to NEW, as Markdown; exit 1 when there is a regression, 0 otherwise.
matrix  the version matrix of specs/matrix.yaml (layerconf.matrix): `layerconf matrix --help`.
"""
import argparse
import sys
import time
from pathlib import Path

from layerconf import diff, flavours, matrix, report, results, runner

USAGE_ERROR = 2


def _run(args) -> int:
    try:
        names = list(dict.fromkeys(args.framework)) if args.framework else runner.available()
        missing = [n for n in names if n not in runner.available()]
        for name in names:
            flavours.manifest(name)
    except flavours.UnknownFlavour as err:
        return _usage(str(err))
    if missing:
        return _usage(f"--framework: not installed here: {', '.join(missing)} "
                      f"(installed: {', '.join(runner.available()) or 'none'})")
    if not names:
        return _usage("no framework installed: install one, e.g. pip install -e '.[torch]', or run `tox -e run`")
    start = time.monotonic()
    print(f"layerconf run: {', '.join(names)} (time limit {args.timeout:g} s each)", file=sys.stderr)
    document, runs = runner.run_all(names, args.timeout, args.seed, args.device, stream=sys.stderr)
    output = Path(args.output)
    path = results.write_document(output / "results.json", document)
    paths = report.write(output, [document])
    print(f"results: {path}\nreport:  {paths['markdown']}\n         {paths['html']}\n"
          f"total time {time.monotonic() - start:.0f} s", file=sys.stderr)
    failing = sum(r["outcome"] in ("failed", "error", "deviation_fixed") for r in document["records"])
    incomplete = [r.framework for r in runs if r.status != "completed"]
    if incomplete:
        print(f"did not complete: {', '.join(incomplete)}", file=sys.stderr)
    return 1 if failing or incomplete else 0


def _report(args) -> int:
    documents = [results.read(p) for p in args.results]
    paths = report.write(Path(args.output), documents)
    print(f"report: {paths['markdown']}\n        {paths['html']}", file=sys.stderr)
    return 0


def _diff(args) -> int:
    changes = diff.compare(results.read(args.old), results.read(args.new))
    text = diff.to_markdown(changes)
    if args.output:
        Path(args.output).write_text(text)
    sys.stdout.write(text)
    return 1 if changes.regressions else 0


def _usage(message: str) -> int:
    print(f"layerconf: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="layerconf", description=__doc__.split("\n")[0],
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the conformance suite for every installed framework and write the report")
    run.add_argument("--framework", action="append", metavar="NAME",
                     help=f"framework to run, repeatable; one of {flavours.names()}; default: every installed one")
    run.add_argument("--output", default="report", metavar="DIR", help="folder for results.json, report.md, report.html (default: report)")
    run.add_argument("--timeout", type=_positive, default=1800.0, metavar="SECONDS",
                     help="time limit per framework process (default 1800)")
    run.add_argument("--seed", type=int, default=0, help="base seed for every random draw (default 0)")
    run.add_argument("--device", default="cpu", help="device the adapters run on (default cpu)")
    run.set_defaults(handler=_run)

    rep = sub.add_parser("report", help="Markdown report and HTML page from results files")
    rep.add_argument("results", nargs="+", metavar="RESULTS", help="results JSON files (layerconf run or pytest --results)")
    rep.add_argument("--output", default="report", metavar="DIR", help="folder for report.md and report.html (default: report)")
    rep.set_defaults(handler=_report)

    dif = sub.add_parser("diff", help="changes between two results files; exit 1 on a regression")
    dif.add_argument("old", metavar="OLD")
    dif.add_argument("new", metavar="NEW")
    dif.add_argument("--output", metavar="FILE", help="also write the Markdown here")
    dif.set_defaults(handler=_diff)

    mat = sub.add_parser("matrix", help="run the suite over the version matrix (specs/matrix.yaml)")
    matrix.add_arguments(mat)
    mat.set_defaults(handler=matrix.execute)
    return top


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except results.ResultsError as err:
        return _usage(str(err))
