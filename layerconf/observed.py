"""The observed keys (layerconf/schemas/observed.json): what a check may record of a framework's conventions.

``require`` refuses an undeclared key (a test recording something no reader knows); ``rows`` renders
the declaration as the table of docs/results.md.
"""
import json
import re

from layerconf import SCHEMAS

SCHEMA = json.loads((SCHEMAS / "observed.json").read_text())


def require(key: str) -> None:
    if key not in SCHEMA["properties"] and not any(re.match(p, key) for p in SCHEMA["patternProperties"]):
        raise KeyError(f"observed key {key!r} is not declared in layerconf/schemas/observed.json")


def rows() -> list[str]:
    """Markdown rows: key, measured by, meaning (patterns shown as written)."""
    entries = {**SCHEMA["properties"], **SCHEMA["patternProperties"]}
    return [f"| `{key}` | `{e['measured_by']}` | {e['description']} |" for key, e in entries.items()]
