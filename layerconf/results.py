"""The results JSON: one document per run (schema layerconf/schemas/results.json, version 1).

``read`` validates and raises ResultsError naming the file and the place of the first problems.
"""
import datetime
import json
import platform
import sys
from pathlib import Path

import jsonschema

import layerconf

SCHEMA_ID = "layerconf.results/1"
SCHEMA = json.loads((Path(__file__).with_name("schemas") / "results.json").read_text())


class ResultsError(ValueError):
    """A results file is unreadable, truncated, foreign or does not match the schema."""


def metadata(frameworks: dict, seed: int, stale: list) -> dict:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "layerconf": layerconf.__version__,
        "seed": seed,
        "frameworks": frameworks,
        "stale_deviations": stale,
    }


def validate(document, source: str = "<results>") -> dict:
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        shown = [f"{source}: {'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors[:5]]
        more = f"\n... and {len(errors) - 5} more" if len(errors) > 5 else ""
        raise ResultsError("\n".join(shown) + more)
    return document


def write(path, meta: dict, records: list) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = validate({"schema": SCHEMA_ID, "metadata": meta, "records": records}, str(path))
    path.write_text(json.dumps(document, indent=1, allow_nan=False))
    return path


def read(path) -> dict:
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except OSError as err:
        raise ResultsError(f"{path}: cannot read: {err}") from err
    except UnicodeDecodeError as err:
        raise ResultsError(f"{path}: not UTF-8 text (compressed or binary?): {err.reason} at byte {err.start}") from err
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON (truncated?) at line {err.lineno} column {err.colno}: {err.msg}") from err
    if not isinstance(document, dict) or document.get("schema") != SCHEMA_ID:
        found = document.get("schema") if isinstance(document, dict) else type(document).__name__
        raise ResultsError(f"{path}: schema: expected {SCHEMA_ID!r}, found {found!r}: not a layerconf results file")
    return validate(document, str(path))
