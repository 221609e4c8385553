"""The catalogue's version: what the checks were held to (specs/: behaviours, layers, the flavours' manifests and
profiles, deviations, tolerances), as a hash that results record in ``metadata/catalogue``.

``version`` hashes every YAML file under specs/ but matrix.yaml (the version matrix's Python, which no check
reads), in the order of their relative paths, each path and its bytes: the same files give the same version on
every machine. ``disagreement`` names the documents whose recorded versions differ, for ``layerconf diff`` (which
refuses them unless told otherwise) and ``layerconf report`` (which warns).
"""
import functools
import hashlib
from pathlib import Path

from layerconf import specs

LEFT_OUT = ("matrix.yaml",)


@functools.cache
def version(directory: Path = specs.DIRECTORY) -> str:
    """16 hexadecimal digits of the SHA-256 of the catalogue's files under ``directory``."""
    digest = hashlib.sha256()
    files = {p.relative_to(directory).as_posix(): p for p in directory.rglob("*.yaml")}
    for name in sorted(set(files) - set(LEFT_OUT)):
        data = files[name].read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()[:16]


def recorded(document: dict) -> str | None:
    """The catalogue version a results document records (None: written before results recorded it)."""
    return document["metadata"].get("catalogue")


def disagreement(documents: dict[str, dict]) -> str | None:
    """'old.json catalogue 0123..., new.json catalogue 4567...' when the documents (name -> document) record more
    than one catalogue version, else None; a document that records none is named as such."""
    found = {name: recorded(d) for name, d in documents.items()}
    if len(set(found.values()) - {None}) < 2:
        return None
    return ", ".join(f"{name} catalogue {v or 'not recorded'}" for name, v in found.items())
