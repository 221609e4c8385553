"""``layerconf audit``: the subcommand's options, the flavour and its process environment, the exit status.

Exit status: 0 when no hazard is found and every output matches the reference; 1 when a hazard is found or an
output is off; 2 on bad input (an unknown or unsupported flavour, a TARGET that does not load or returns something
else, a model of another framework), with a message and nothing else done.
"""
import importlib
import json
import os
import sys

from layerconf import flavours, specs
from layerconf.audit import hazards, measure, text
from layerconf.audit.records import PASSES
from layerconf.audit.target import AuditError, load

# flavour -> its framework part; Keras 3's backends share one, the backend from the flavour's KERAS_BACKEND
PARTS = {"torch": "layerconf.audit.pytorch", "keras-tensorflow": "layerconf.audit.keras3",
         "keras-jax": "layerconf.audit.keras3", "keras-torch": "layerconf.audit.keras3",
         "tf-keras": "layerconf.audit.tf_keras", "flax-nnx": "layerconf.audit.flax_nnx",
         "flax-linen": "layerconf.audit.flax_linen"}
FOLLOWING = "equinox, paddle, mlx and the execution paths (torch-compile, ...) follow"


def add_arguments(parser) -> None:
    parser.add_argument("target", metavar="TARGET",
                        help="module:function or path/to/file.py:function returning (model, batch) or (model, batch, step)")
    parser.add_argument("--flavour", "--framework", dest="flavour", required=True, metavar="NAME",
                        help=f"the model's framework: one of {', '.join(PARTS)}")
    parser.add_argument("--json", action="store_true", help="print the audit as JSON instead of the table")


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


def execute(args) -> int:
    try:
        doc = audit(args.flavour, args.target)
    except AuditError as err:
        print(f"layerconf: error: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(doc, indent=1, default=str) + "\n" if args.json else text.table(doc))
    return 1 if text.failing(doc) else 0
