"""``layerconf audit``: the subcommand's options, the flavour and its process environment, the exit status;
``--compare A B`` compares two models of one network instead (layerconf.audit.compare), exit 1 on a difference.

Exit status: 0 when no hazard is found and every output matches the reference; 1 when a hazard is found or an
output is off; 2 on bad input (an unknown or unsupported flavour, a TARGET that does not load or returns something
else, a model of another framework), with a message and nothing else done.

Output: the table on the terminal; --json prints the document instead (layerconf/schemas/audit.json); --html PATH
also writes the document as a self-contained HTML page, and layerconf report --audit FILE adds a --json document to
the report (docs/audit.md).
"""
import importlib
import os
import sys

from layerconf import flavours, output, report, specs
from layerconf.audit import compare, compare_text, document, hazards, measure, onnx_graph, text
from layerconf.audit.records import PASSES
from layerconf.audit.target import AuditError, load

# flavour -> its framework part; Keras 3's backends share one, the backend from the flavour's KERAS_BACKEND
PARTS = {"torch": "layerconf.audit.pytorch", "keras-tensorflow": "layerconf.audit.keras3",
         "keras-jax": "layerconf.audit.keras3", "keras-torch": "layerconf.audit.keras3",
         "tf-keras": "layerconf.audit.tf_keras", "flax-nnx": "layerconf.audit.flax_nnx",
         "flax-linen": "layerconf.audit.flax_linen", "paddle": "layerconf.audit.paddlepaddle",
         "mlx": "layerconf.audit.mlx_nn", "equinox": "layerconf.audit.equinox"}
FOLLOWING = "the execution paths (torch-compile, ...) follow"


def add_arguments(parser) -> None:
    parser.add_argument("target", metavar="TARGET", nargs="?",
                        help="module:function or path/to/file.py:function returning (model, batch) or (model, batch, step)")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"),
                        help="compare two models of one network instead of auditing TARGET: A a TARGET of --flavour, "
                             "B a TARGET of --flavour-b (default --flavour) or a .onnx file run by ONNX Runtime on A's batch")
    parser.add_argument("--flavour-b", metavar="NAME", help="with --compare: B's framework, when B is not a .onnx file")
    parser.add_argument("--map", default="order", metavar="HOW",
                        help=f"with --compare: pair the layers by {' or by '.join(compare.MAPPINGS)} (default order)")
    parser.add_argument("--flavour", "--framework", dest="flavour", required=True, metavar="NAME",
                        help=f"the model's framework: one of {', '.join(PARTS)}")
    parser.add_argument("--json", action="store_true", help="print the audit as JSON instead of the table")
    parser.add_argument("--html", metavar="PATH", help="also write the audit as a self-contained HTML page here "
                                                       "(layerconf report --audit FILE puts a --json document in the report)")


def flavour(name: str) -> flavours.Flavour:
    """The flavour, if the audit supports it; its process environment (KERAS_BACKEND) set before any import."""
    if name not in flavours.names():
        raise AuditError(f"--flavour: no flavour {name!r}; the audit supports {', '.join(PARTS)}")
    if name not in PARTS:
        raise AuditError(f"--flavour {name}: not supported by the audit yet; it supports {', '.join(PARTS)} "
                         f"({FOLLOWING})")
    for key, value in flavours.environment(name).items():
        if os.environ.setdefault(key, value) != value:
            raise AuditError(f"--flavour {name} needs {key}={value}, but the environment has {key}={os.environ[key]}")
    return flavours.Flavour(name, specs.manifest(name), specs.profile(name))


def audit(name: str, target_text: str) -> dict:
    """Run the audit; the document ``text.document`` describes."""
    chosen = flavour(name)
    part = importlib.import_module(PARTS[name])
    target = load(target_text)
    observed = part.observe(chosen, target)
    for layer in observed.layers:
        layer.measured = {p: measure.measured(layer, layer.calls.get(p), chosen.profile) for p in PASSES}
    found = hazards.grouped(observed.layers, chosen.profile, part)
    return text.document(name, target_text, observed, found)


def compared(name: str, a_text: str, b_text: str, by: str = "order", b_name: str | None = None) -> dict:
    """Run --compare: A observed by --flavour's part, B by --flavour-b's or, for a .onnx file, by onnx_graph on A's
    batch; the document ``compare.document`` describes."""
    if by not in compare.MAPPINGS:
        raise AuditError(f"--map: {by!r} is not a mapping; allowed: {', '.join(compare.MAPPINGS)}")
    if a_text.endswith(".onnx"):
        raise AuditError(f"--compare A B: A ({a_text}) must be a TARGET (module:function): the step runs on A; "
                         f"an ONNX file goes in B")
    onnx_b = b_text.endswith(".onnx")
    if onnx_b and b_name:
        raise AuditError(f"--flavour-b {b_name}: B ({b_text}) is an ONNX file, run by ONNX Runtime; leave --flavour-b out")
    keras = {n for n in (name, b_name) if PARTS.get(n) == PARTS["keras-jax"]}
    if len(keras) > 1:
        raise AuditError(f"--compare: --flavour {name} and --flavour-b {b_name} need two Keras backends; one process "
                         f"runs one (KERAS_BACKEND): compare Keras on one backend with a model of another framework")
    chosen = flavour(name)
    b_flavour = flavours.Flavour(onnx_graph.FLAVOUR, specs.manifest(onnx_graph.FLAVOUR),
                                 specs.profile(onnx_graph.FLAVOUR)) if onnx_b else flavour(b_name or name)
    if onnx_b:
        onnx_graph.load(b_text)   # a missing or unreadable file: exit 2 before A runs
    target = load(a_text)
    observed_a = importlib.import_module(PARTS[name]).observe(chosen, target)
    if onnx_b:
        observed_b, explain = onnx_graph.observe(b_text, target.batch, b_flavour.profile, b_flavour), onnx_graph.explain
    else:
        part = importlib.import_module(PARTS[b_flavour.name])
        observed_b, explain = part.observe(b_flavour, load(b_text)), _nothing
    sides = {"A": {"target": a_text, "flavour": name}, "B": {"target": b_text, "flavour": b_flavour.name}}
    return compare.document(sides, (observed_a, observed_b), by, (chosen.profile, b_flavour.profile), explain)


def _nothing(*args) -> list:
    """A framework part without declared differences to explain."""
    return []


def execute(args) -> int:
    """The subcommand on the parser's ``args`` (--compare, --map and --flavour-b may be absent: an audit)."""
    compared_pair, page = getattr(args, "compare", None), getattr(args, "html", None)
    try:
        page = page and output.file(page, "--html")   # before the audit runs
        if compared_pair and args.target:
            raise AuditError(f"give TARGET ({args.target}) or --compare A B, not both")
        if not compared_pair and not args.target:
            raise AuditError("give TARGET to audit, or --compare A B")
        if compared_pair:
            doc = compared(args.flavour, *compared_pair, by=args.map, b_name=args.flavour_b)
        else:
            doc = audit(args.flavour, args.target)
    except (AuditError, output.OutputError) as err:
        print(f"layerconf: error: {err}", file=sys.stderr)
        return 2
    shown, failing = (compare_text.table, compare.failing) if compared_pair else (text.table, text.failing)
    sys.stdout.write(document.text(doc) + "\n" if args.json else shown(doc))
    if page:
        output.write_text(page, report.audit_page(document.portable(doc)))
        print(f"html: {page}", file=sys.stderr)
    return 1 if failing(doc) else 0
