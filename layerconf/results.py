"""The results JSON: one document per run (schema layerconf/schemas/results.json, version 1).

``read`` validates and raises ResultsError naming the file and the place of the first problems.
"""
import datetime
import json
import platform
import re
import sys
from pathlib import Path

import jsonschema

import layerconf
from layerconf import SCHEMAS, catalogue, observed
from layerconf.audit.document import KINDS as AUDIT_SCHEMAS
from layerconf.outcomes import Outcome

SCHEMA_ID = "layerconf.results/1"
SCHEMA = json.loads((SCHEMAS / "results.json").read_text())
_RECORD = SCHEMA["properties"]["records"]["items"]["properties"]
_RECORD["outcome"]["enum"] = [o.value for o in Outcome]      # one home: the Outcome type
_RECORD["observed"].update(observed.SCHEMA)                  # one home: schemas/observed.json


def flavour_of(record: dict) -> str:
    """The record's flavour. Its key keeps the first name, "framework", so results of earlier releases still read."""
    return record["framework"]


def flavours_in(document: dict) -> dict:
    """Each flavour's version and environment: the metadata's "frameworks" (the key keeps its first name)."""
    return document["metadata"]["frameworks"]


def gist(record: dict) -> str:
    """The record's finding in one line: its first failure's detail (expected against observed), else the first
    line of its message, else ''."""
    texts = [f["detail"] for f in record.get("failures") or ()] + [record.get("message") or ""]
    return next((line.strip() for text in texts for line in text.splitlines() if line.strip()), "")


def declared_in(declaration: dict) -> str:
    """Where a record's declaration comes from: 'specs/deviations/torch.yaml, entry 3', or the user's file. Results
    written before declarations named their source came from the shipped files; older ones hold a pattern only."""
    if "file" not in declaration:
        return f"specs/deviations/ (pattern {declaration.get('check')!r})"
    source = declaration.get("source") or f"specs/deviations/{declaration['file']}.yaml"
    return f"{source}, entry {declaration['index']}"


class ResultsError(ValueError):
    """A results file is unreadable, truncated, foreign or does not match the schema."""


def metadata(flavours_meta: dict, seed: int) -> dict:
    """The run's metadata; ``flavours_meta``: each flavour's version and environment. ``catalogue``: the version of
    the catalogue the checks were held to (layerconf.catalogue)."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "layerconf": layerconf.__version__,
        "seed": seed,
        "catalogue": catalogue.version(),
        "frameworks": flavours_meta,
    }


def merge(documents: list[dict], runs: dict | None = None, seed: int | None = None) -> dict:
    """One document from several (one per flavour process): records and flavours joined.

    Run-wide metadata (date, host, python, platform) is the first document's, with the run's ``seed`` when
    given; ``runs`` (flavour -> status, exit code, duration, command, output tail) is added when given.
    With no document, the metadata describes this process and has no flavours.
    """
    base = dict(documents[0]["metadata"]) if documents else metadata({}, seed or 0)
    if seed is not None:
        base["seed"] = seed
    base["frameworks"] = {name: meta for d in documents for name, meta in flavours_in(d).items()}
    merged = {"schema": SCHEMA_ID, "metadata": base}
    if runs is not None:
        merged["runs"] = runs
    merged["records"] = [r for d in documents for r in d["records"]]
    return validate(merged)


def validate(document, source: str = "<results>") -> dict:
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        shown = [f"{source}: {'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors[:5]]
        more = f"\n... and {len(errors) - 5} more" if len(errors) > 5 else ""
        raise ResultsError("\n".join(shown) + more)
    listed_flavours = flavours_in(document)
    seen = {}
    for i, record in enumerate(document["records"]):
        known = listed_flavours.get(flavour_of(record))
        if known is None or known["version"] != record["version"]:
            listed = ", ".join(f"{n} {m['version']}" for n, m in listed_flavours.items()) or "none"
            raise ResultsError(f"{source}: records/{i}: framework {flavour_of(record)} {record['version']} "
                               f"is not in metadata/frameworks ({listed})")
        key = (flavour_of(record), record["check"])
        if key in seen:
            raise ResultsError(f"{source}: records/{i}: duplicate record of {record['check']} on {flavour_of(record)} "
                               f"(records/{seen[key]} has it)")
        seen[key] = i
    if not document["records"] and not document.get("runs"):
        raise ResultsError(f"{source}: records: empty, and no runs say why: not the results of a run")
    return document


def write(path, meta: dict, records: list) -> Path:
    return write_document(path, {"schema": SCHEMA_ID, "metadata": meta, "records": records})


def write_document(path, document: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(validate(document, str(path)), indent=1, allow_nan=False))
    return path


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number (a non-finite value is written as null)")


def _non_finite_place(text: str) -> str:
    """'line 12: worst_error: ' for the first NaN or infinity that follows a key, else ''."""
    found = re.search(r'"([^"]+)"\s*:\s*(?:-?Infinity|NaN)\b', text)
    return f"line {text.count(chr(10), 0, found.start()) + 1}: {found.group(1)}: " if found else ""


def read(path) -> dict:
    path = Path(path)
    try:
        text = path.read_text()
        document = json.loads(text, parse_constant=_no_constant)
    except OSError as err:
        raise ResultsError(f"{path}: cannot read: {err}") from err
    except UnicodeDecodeError as err:
        raise ResultsError(f"{path}: not UTF-8 text (compressed or binary?): {err.reason} at byte {err.start}") from err
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON (truncated?) at line {err.lineno} column {err.colno}: {err.msg}") from err
    except ValueError as err:   # a NaN or infinity: JSON has neither, and layerconf writes null for them
        raise ResultsError(f"{path}: {_non_finite_place(text)}{err}") from err
    if not isinstance(document, dict) or document.get("schema") != SCHEMA_ID:
        found = document.get("schema") if isinstance(document, dict) else type(document).__name__
        hint = " (an audit document of layerconf audit --json: give it to layerconf report with --audit)" \
            if found in tuple(AUDIT_SCHEMAS) else ""
        raise ResultsError(f"{path}: schema: expected {SCHEMA_ID!r}, found {found!r}: not a layerconf results file{hint}")
    return validate(document, str(path))
