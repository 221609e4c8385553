"""Declared deviations (specs/deviations/<file>.yaml; a flavour's manifest lists the files that apply to it,
so a family of flavours shares one), and the user's own files (``--deviations PATH``): the same schema,
signatures and checks, on top of the shipped ones or instead of them.

A declaration applies to a case when the flavour is one of its ``flavours`` (default: every flavour
listing the file), the behaviour is one of its ``behaviours``, each ``where`` parameter has one of the
given values, and the framework's version lies in ``versions`` (a PEP 440 specifier set; local labels
such as +cpu ignored, pre-releases included). At most one declaration applies to a case.

Its ``signature`` states what the deviating check shows; ``judge`` holds the failures the check observed
against it. The verdict is a deviation when every failure fits; the deviation is fixed when nothing
failed; anything outside the signature (another kind of failure, a larger error, a NaN) is a failure.
"""
import functools
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from layerconf import flavours, specs
from layerconf.applicability import not_applicable
from layerconf.outcomes import Outcome

CONVENTION_FAILURES = ("value", "property", "statistic")   # what another convention can change


OPTION = "--deviations"   # the option that names the user's files, in their errors


@dataclass(frozen=True)
class Declaration:
    file: str
    index: int
    behaviours: tuple
    flavours: tuple | None
    where: dict
    versions: str
    reason: str
    link: str
    signature: dict
    source: str | None = None   # the user's file (--deviations), or a flavour package's own; None: a shipped file
    devices: tuple | None = None   # the devices (--device) it applies on; None: every device

    @property
    def path(self) -> str:
        """The file it comes from: specs/deviations/<file>.yaml, or the user's path."""
        return self.source or f"specs/deviations/{self.file}.yaml"

    @property
    def name(self) -> str:
        return f"{self.path}, entry {self.index}"

    def applies(self, flavour: str, behaviour: str, params: dict, version: str, device: str = "cpu") -> bool:
        return ((self.flavours is None or flavour in self.flavours) and behaviour in self.behaviours
                and (self.devices is None or device in self.devices)
                and all(params.get(k) in _values(v) for k, v in self.where.items())
                and _specifier(self.versions).contains(public_version(version), prereleases=True))

    def record(self) -> dict:
        """The declaration as a results record carries it."""
        return {"file": self.file, "source": self.path, "index": self.index, "behaviours": list(self.behaviours),
                **({} if self.devices is None else {"devices": list(self.devices)}), "where": self.where,
                "versions": self.versions, "reason": self.reason, "link": self.link, "signature": self.signature}


@functools.cache
def _specifier(versions: str) -> SpecifierSet:
    return SpecifierSet(versions)


@functools.cache
def public_version(version: str) -> Version:
    return Version(Version(version).public)


def _values(v) -> list:
    return v if isinstance(v, list) else [v]


def declarations(flavour: str, files=(), shipped: bool = True, runtime: str | None = None) -> list[Declaration]:
    """Every declaration that can apply to ``flavour``: those of the shipped files its manifest lists (none when
    ``shipped`` is False), then those of the user's ``files`` (--deviations PATH). Each is checked against the
    catalogue: the behaviours exist, each ``where`` names a grid parameter of every behaviour and values from its
    grid, its ``flavours`` list the file in their manifests (in a user's file: are flavours), and some case it
    covers applies to the flavour (in a user's file, only where it names ``flavours``: without, it applies to
    every flavour). Anything else raises SpecError naming the file and the entry, after "--deviations " for a
    user's file. ``runtime``: the flavour whose shipped declarations apply in place of ``flavour``'s, as they apply
    to it, because ``flavour`` runs that flavour's runtime (onnx-backend running ONNX Runtime's backend)."""
    catalogue = specs.behaviours()
    out, owner = [], runtime or flavour
    for file in (specs.manifest(owner)["deviations"] if shipped else ()):
        with specs.naming(owner):
            directory = specs.deviation_directory(owner, file)
            listing = [n for n in dict.fromkeys([*specs.flavour_names(), owner]) if file in specs.manifest(n)["deviations"]
                       and specs.deviation_directory(n, file) == directory]
            source = None if directory == specs.DIRECTORY / "deviations" else str(directory / f"{file}.yaml")
            found = _checked(owner, specs.deviation_file(file, directory), file, source, catalogue, listing, user=False)
        out += [replace(d, flavours=(flavour,)) for d in found] if runtime else found
    for path in files:
        try:
            entries = specs.load_yaml(Path(path), "deviations") or ()
            out += _checked(flavour, entries, Path(path).stem, str(path), catalogue, flavours.names(), user=True)
        except specs.SpecError as err:
            raise specs.SpecError(f"{OPTION} {err}") from err
    return out


def _checked(flavour: str, entries, file: str, source: str | None, catalogue: dict, listing: list[str],
             user: bool) -> list[Declaration]:
    """The declarations of one file that can apply to ``flavour``, each validated."""
    out = []
    for index, entry in enumerate(entries):
        d = Declaration(file, index, tuple(entry["behaviours"]), tuple(entry["flavours"]) if "flavours" in entry else None,
                        entry.get("where", {}), entry["versions"], entry["reason"], entry["link"], entry["signature"],
                        source, tuple(entry["devices"]) if "devices" in entry else None)
        _validate(d, catalogue, listing, user)
        if d.flavours is None or flavour in d.flavours:
            if (d.flavours or not user) and not _covers(d, flavour, catalogue):
                raise specs.SpecError(f"{d.name}: covers no case that applies to {flavour}: a stale declaration")
            out.append(d)
    return out


def _covers(d: Declaration, flavour: str, catalogue: dict) -> bool:
    profile = specs.profile(flavour)
    return any(all(case.get(k) in _values(v) for k, v in d.where.items()) and not not_applicable(catalogue[b], case, profile)
               for b in d.behaviours for case in catalogue[b].cases())


def _validate(d: Declaration, catalogue: dict, listing: list[str], user: bool) -> None:
    where = f"{d.name}"
    try:
        SpecifierSet(d.versions)
    except InvalidSpecifier as err:
        raise specs.SpecError(f"{where}: versions: {d.versions!r} is not a PEP 440 specifier set (e.g. '>=2.0,<2.6')") from err
    for flavour in d.flavours or ():
        if flavour not in listing:
            why = (f"is not a flavour ({', '.join(listing)})" if user else
                   f"does not list {d.file!r} in its manifest's deviations ({listing})")
            raise specs.SpecError(f"{where}: flavours: {flavour!r} {why}")
    for behaviour in d.behaviours:
        if behaviour not in catalogue:
            raise specs.SpecError(f"{where}: behaviours: {behaviour!r} is not in the catalogue")
        grid = catalogue[behaviour].grid
        for key, value in d.where.items():
            if key not in grid:
                raise specs.SpecError(f"{where}: where: {behaviour} has no parameter {key!r} (its grid: {list(grid)})")
            if unknown := [v for v in _values(value) if v not in grid[key]]:
                raise specs.SpecError(f"{where}: where/{key}: {unknown} not in {behaviour}'s grid {grid[key]}")
    for path in d.signature.get("profile", {}):
        if not specs.profile_field(path):
            raise specs.SpecError(f"{where}: signature/profile: {path} is not a field of a profile (schemas/profile.json)")


def applying(decls: list[Declaration], flavour: str, behaviour: str, params: dict, version: str,
             device: str = "cpu") -> Declaration | None:
    """The declaration for the case on ``device``, or None; two declarations for one case raise SpecError naming both."""
    found = [d for d in decls if d.applies(flavour, behaviour, params, version, device)]
    if len(found) > 1:
        raise specs.SpecError(f"{found[0].name} and {found[1].name} both declare {behaviour} {params} on {flavour} {version}")
    return found[0] if found else None


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome          # DEVIATION, DEVIATION_FIXED, FAILED or ERROR
    text: str                 # the declaration against the observation, for the record's message


def judge(d: Declaration, failures: list, observed: dict, dtype: str, rerun) -> Verdict:
    """Hold the observed ``failures`` (layerconf.checks.Failure) and ``observed`` values against the
    declaration's signature. ``rerun(profile_overrides)`` runs the check again with the reference following
    those conventions and returns its failures (the convention kind only)."""
    sig = d.signature
    if not failures and sig["kind"] == "convention":
        return _indistinguishable(d, rerun(sig["profile"]))
    if not failures:
        return Verdict(Outcome.DEVIATION_FIXED, f"declared deviation no longer reproduces: every assertion passed "
                                                f"({d.name}: {d.reason} {d.link})")
    misfits = [f"({f.kind}) {f.detail.splitlines()[0]}" for f in failures if not _fits(sig, f)]
    misfits += _observed_misfits(sig.get("observed", {}), observed, dtype)
    if not misfits and sig["kind"] == "convention":
        again = rerun(sig["profile"])
        misfits += [f"with the reference following {sig['profile']}, still ({f.kind}) {f.detail.splitlines()[0]}"
                    for f in again]
    header = f"declared ({d.name}): {_describe(sig)}"
    seen = "\n".join(f"  observed ({f.kind}): {f.detail.splitlines()[0]}" for f in failures)
    if misfits:
        unexpected = any(f.kind == "error" and f.quantity == "call" and not _fits(sig, f) for f in failures)
        text = f"outside the declared deviation's signature\n  {header}\n" + "\n".join(f"  outside: {m}" for m in misfits)
        return Verdict(Outcome.ERROR if unexpected else Outcome.FAILED, f"{text}\n{seen}")
    return Verdict(Outcome.DEVIATION, f"{header}\n{seen}\n  reason: {d.reason} ({d.link})")


def _indistinguishable(d: Declaration, again: list) -> Verdict:
    """The check passed under the documented convention. If it passes under the declared one too, these inputs
    cannot tell the two apart (a rounding below the tolerance): the declaration still holds. If it fails there,
    the framework follows the documented convention now: the deviation is fixed."""
    if again:
        return Verdict(Outcome.DEVIATION_FIXED, f"declared deviation no longer reproduces: the check passes as documented "
                       f"and fails with the reference following {d.signature['profile']}: "
                       f"{again[0].detail.splitlines()[0]} ({d.name}: {d.reason} {d.link})")
    return Verdict(Outcome.DEVIATION, f"declared ({d.name}): {_describe(d.signature)}\n  observed: the check passes "
                   f"under both conventions, which these inputs cannot tell apart\n  reason: {d.reason} ({d.link})")


def _fits(sig: dict, f) -> bool:
    kind = sig["kind"]
    if kind == "convention":
        return f.kind in CONVENTION_FAILURES
    if f.kind != kind:
        return False
    if kind in ("error", "message"):
        return sig.get("type", f.error_type) == f.error_type and re.search(sig["message"], f.message or "") is not None
    if kind == "property":
        return f.quantity in sig["quantities"]
    if kind == "value":
        if f.quantity not in sig.get("quantities", [f.quantity]):
            return False
        if f.worst_error == float("inf"):       # NaN where a number is due: only where declared
            return bool(sig.get("non_finite"))
        bounded = "max_error" in sig or "within_tolerance" in sig
        return bounded and (f.worst_error <= sig.get("max_error", float("inf"))
                            and ("within_tolerance" not in sig or f.margins[sig["within_tolerance"]] <= 1.0))
    return True   # no_error


def _observed_misfits(expected: dict, observed: dict, dtype: str) -> list[str]:
    tol = specs.tolerances()[dtype]
    out = []
    for key, want in expected.items():
        got = observed.get(key)
        if isinstance(want, str) and "/" in want:
            want = float(Fraction(want))
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (got, want))
        if not (abs(got - want) <= tol["atol"] + tol["rtol"] * abs(want) if numbers else got == want):
            out.append(f"observed {key} = {got}, declared {want}")
    return out


def _describe(sig: dict) -> str:
    kind = sig["kind"]
    text = {"no_error": "no error where the spec expects one",
            "error": f"raises {sig.get('type', 'an exception')} matching {sig.get('message')!r}",
            "message": f"raises as expected, message {sig.get('message')!r} lacking what the spec asks",
            "value": "wrong values" + (f" of {', '.join(sig['quantities'])}" if "quantities" in sig else "")
                     + (f", max |error| <= {sig['max_error']:g}" if "max_error" in sig else "")
                     + (f", within the {sig['within_tolerance']} tolerance" if "within_tolerance" in sig else "")
                     + (", or NaN where a number is due" if "non_finite" in sig else ""),
            "property": f"the property {', '.join(repr(q) for q in sig.get('quantities', []))} does not hold",
            "convention": f"behaves as the reference under {sig.get('profile')}"}[kind]
    return text + (f"; observed {sig['observed']}" if "observed" in sig else "")
