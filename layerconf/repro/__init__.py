"""Ready-to-file repros (``layerconf repro CHECK_ID --flavour F``): a standalone script per check.

The script imports only the framework and NumPy. It holds the check's inputs, drawn here as the conformance test
draws them from the same seed and embedded exactly (base64 of np.save bytes); the reference formula as a few lines
of float64 NumPy (the expected values are computed there, never taken from a framework); the layer called through
the framework's public API as the flavour's adapter calls it, written out; and it prints expected against observed
and exits 1 when the behaviour differs, 0 when it matches.

A generator is a behaviour family (layerconf.repro.families: the draws, the reference's inputs) plus one small
template per framework (templates/<family>.<framework>.j2). ``script`` refuses, with ReproError naming the argument
and the values it allows, an unknown check id or flavour, a check the flavour cannot express, and a check no
generator covers.
"""
import base64
import io
import textwrap
from pathlib import Path

import jinja2
import numpy as np

from layerconf import deviations, flavours, seeds, specs
from layerconf.applicability import not_applicable
from layerconf.repro import families

# flavour -> the framework its templates are written for (templates/<family>.<framework>.j2)
FRAMEWORKS = {"torch": "torch", "keras-torch": "keras", "onnxruntime": "onnxruntime", "equinox": "equinox",
              "paddle": "paddle"}
TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                               undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                               lstrip_blocks=True)
TEMPLATES.filters["wrap"] = lambda text: textwrap.fill(text, 116)
TEMPLATES.filters["literal"] = lambda text: repr(text) if len(text) < 100 else "(\n" + "".join(
    f"    {line!r}\n" for line in textwrap.wrap(text, 96, drop_whitespace=False)) + ")"
TEMPLATES.filters["kwargs"] = lambda native: ", ".join(f"{k}={v!r}" for k, v in native.items())


class ReproError(ValueError):
    """Bad input for a repro: the message names the argument and what it allows."""


def case(check_id: str) -> tuple[specs.Behaviour, dict]:
    """The catalogue's behaviour and parameters of ``check_id``; ReproError for an id not in the catalogue."""
    catalogue = specs.behaviours()
    behaviour = catalogue.get(check_id.split("[")[0])
    if behaviour is None:
        raise ReproError(f"CHECK_ID: {check_id.split('[')[0]!r} is not a behaviour of the catalogue "
                         f"(e.g. {', '.join(list(catalogue)[:4])}, ...)")
    for params in behaviour.cases():
        if specs.check_id(behaviour.id, params) == check_id:
            return behaviour, params
    raise ReproError(f"CHECK_ID: {check_id!r} is not a case of {behaviour.id}; its cases: "
                     f"{', '.join(specs.check_id(behaviour.id, p) for p in behaviour.cases()[:6])}"
                     f"{', ...' if len(behaviour.cases()) > 6 else ''}")


def skipped(params: dict, profile) -> str | None:
    """Why the conformance test skips the case on the flavour at run time from its profile (a replicas split the
    profile's replicas.sync.splits lacks), or None."""
    splits = profile.get("replicas.sync.splits")
    if "split" in params and splits is not None and params["split"] not in splits:
        why = profile.data.get("not_expressible", {}).get(f"replicas.sync.splits.{params['split']}")
        return f"{profile.name}'s replicas take {splits} splits, not {params['split']}" + (f": {why}" if why else "")
    return None


def covered() -> dict[str, list[str]]:
    """Flavour -> the behaviours a generator covers there."""
    return {f: [b for b, (_, frameworks) in families.GENERATORS.items() if k in frameworks] for f, k in FRAMEWORKS.items()}


def checked(check_id: str, flavour: str) -> tuple[specs.Behaviour, dict]:
    """The case, once the flavour exists, can express it and has a generator for it (ReproError otherwise)."""
    if flavour not in flavours.names():
        raise ReproError(f"--flavour must be one of {', '.join(flavours.names())}, got {flavour!r}")
    behaviour, params = case(check_id)
    profile = specs.profile(flavour)
    if reason := not_applicable(behaviour, params, profile) or skipped(params, profile):
        raise ReproError(f"CHECK_ID: {check_id} does not apply to --flavour {flavour}: {reason}")
    family, frameworks = families.GENERATORS.get(behaviour.id, (None, ()))
    if FRAMEWORKS.get(flavour) not in frameworks:
        has = covered().get(flavour)
        raise ReproError(f"no repro generator for {behaviour.id} on {flavour} (generators: "
                         + (f"{', '.join(has)} on {flavour})" if has else f"flavours {', '.join(FRAMEWORKS)})"))
    return behaviour, params


def covering(flavour: str, behaviour_id: str, params: dict) -> list[deviations.Declaration]:
    """The shipped declarations covering the case on ``flavour`` (any version, any device)."""
    return [d for d in deviations.declarations(flavour)
            if ((d.flavours is None or flavour in d.flavours) and behaviour_id in d.behaviours
                and all(params.get(k) in deviations._values(v) for k, v in d.where.items()))]


def encoded(array: np.ndarray) -> str:
    """base64 of np.save bytes: every value exact, the dtype and shape kept."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode()


def script(check_id: str, flavour: str, seed: int = 0, declared: deviations.Declaration | None = None) -> str:
    """The repro script's text for ``check_id`` on ``flavour`` with the suite's ``--seed``; its docstring quotes
    ``declared`` (default: the first declaration covering the case) and names the others (other versions)."""
    behaviour, params = checked(check_id, flavour)
    found = covering(flavour, behaviour.id, params)
    declared = declared or next(iter(found), None)
    family, _ = families.GENERATORS[behaviour.id]
    derived = seeds.derived(seed, check_id)
    profile = specs.profile(flavour)
    context = family(np.random.default_rng(derived), behaviour, params, profile)
    template = TEMPLATES.get_template(f"{family.__name__}.{FRAMEWORKS[flavour]}.j2")
    return template.render(**context, arrays={k: textwrap.wrap(encoded(v), 110) for k, v in context["inputs"].items()},
                           check_id=check_id, flavour=flavour, framework=FRAMEWORKS[flavour], seed=seed,
                           derived_seed=derived, behaviour=behaviour, params=params, tolerances=specs.tolerances(),
                           declaration=declared, others=[d for d in found if d != declared])
