"""The audit's JSON documents (layerconf/schemas/audit.json): an audit of one model (``AUDIT``) or a comparison of
two (``COMPARE``). ``portable`` is the document as ``--json`` prints it; ``read`` takes one back from a file for the
HTML page and the report, and raises DocumentError naming the file and the first problems (exit 2)."""
import json
from pathlib import Path

import jsonschema

from layerconf import SCHEMAS

SCHEMA = json.loads((SCHEMAS / "audit.json").read_text())
AUDIT, COMPARE = (SCHEMA["$defs"][name]["properties"]["schema"]["const"] for name in ("audit", "compare"))
KINDS = {AUDIT: "audit", COMPARE: "compare"}


class DocumentError(ValueError):
    """A file that is not an audit document: unreadable, not JSON, of another schema, or not matching it."""


def text(doc: dict) -> str:
    """The document as ``--json`` prints it: values JSON lacks (a tuple of a setting, a NumPy scalar) as text."""
    return json.dumps(doc, indent=1, default=str)


def portable(doc: dict) -> dict:
    """The document as a reader of ``text(doc)`` gets it, validated: what the HTML page renders."""
    return validate(json.loads(text(doc)), "<audit>")


def kind(doc: dict) -> str:
    """'audit' or 'compare'."""
    return KINDS[doc["schema"]]


def validate(doc, source: str) -> dict:
    if not isinstance(doc, dict) or doc.get("schema") not in KINDS:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise DocumentError(f"{source}: schema: expected {AUDIT!r} or {COMPARE!r}, found {found!r}: not a layerconf "
                            f"audit document (layerconf audit ... --json > FILE writes one)")
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        shown = [f"{source}: {'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors[:5]]
        raise DocumentError("\n".join(shown) + (f"\n... and {len(errors) - 5} more" if len(errors) > 5 else ""))
    return doc


def read(path) -> dict:
    """The audit document in ``path``, validated."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as err:
        raise DocumentError(f"{path}: cannot read: {err}") from err
    except UnicodeDecodeError as err:
        raise DocumentError(f"{path}: not UTF-8 text: {err.reason} at byte {err.start}") from err
    except json.JSONDecodeError as err:
        raise DocumentError(f"{path}: not valid JSON (truncated?) at line {err.lineno} column {err.colno}: {err.msg}") from err
    return validate(doc, str(path))
