"""Declared deviations (specs/deviations/<framework>.yaml): which apply to a check, which are stale.

An entry applies to a check when its ``check`` pattern matches the check id (fnmatch) and the
framework's version lies in ``versions`` (a PEP 440 specifier set; local labels such as +cpu ignored,
pre-releases and nightlies included).
An entry whose pattern matches no check id at all is stale.
"""
from fnmatch import fnmatchcase

from packaging.specifiers import SpecifierSet
from packaging.version import Version


def public_version(version: str) -> Version:
    return Version(Version(version).public)


def applying(entries, check_id: str, version: str) -> list[dict]:
    v = public_version(version)
    return [e for e in entries if fnmatchcase(check_id, e["check"]) and SpecifierSet(e["versions"]).contains(v, prereleases=True)]


def stale(entries, check_ids) -> list[dict]:
    ids = list(check_ids)
    return [e for e in entries if not any(fnmatchcase(c, e["check"]) for c in ids)]
