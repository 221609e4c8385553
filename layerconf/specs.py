"""Loads and validates the data under specs/: the behaviour catalogue, profiles, tolerances, deviations.

Every loader validates its file against a JSON schema in layerconf/schemas and raises SpecError naming
the file and the field at fault.
"""
import functools
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from layerconf import SPECS

SCHEMAS = Path(__file__).with_name("schemas")
NEUTRAL_MAPS = {
    "identity": lambda v: v,
    "one_minus": lambda v: None if v is None else 1.0 - v,
    # a noise shape spelt as the axes it broadcasts along (Flax broadcast_dims): (16, 1, 12) -> (1,)
    "unit_axes": lambda v: tuple(i for i, size in enumerate(v) if size == 1),
}


class SpecError(ValueError):
    """A spec file is missing, unreadable or does not match its schema."""


def read_yaml(path: Path):
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SpecError(f"{path}: cannot read: {err}") from err


def load_yaml(path: Path, schema: str, data=None):
    """Parse ``path`` (or take its already merged ``data``) and validate it against schemas/<schema>.json."""
    data = read_yaml(path) if data is None else data
    validator = jsonschema.Draft202012Validator(json.loads((SCHEMAS / f"{schema}.json").read_text()))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{path}: {'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors]
        raise SpecError("\n".join(lines))
    return data


@dataclass(frozen=True)
class Behaviour:
    """One entry of the catalogue; ``cases()`` expands its grid."""

    id: str
    family: str
    sentence: str
    formula: str
    grid: dict
    requires: tuple = field(default=())
    layouts_from: str | None = None

    def cases(self) -> list[dict]:
        """Every combination of the grid's values, in the grid's key order."""
        keys = list(self.grid)
        return [dict(zip(keys, values)) for values in itertools.product(*self.grid.values())]


def check_id(behaviour_id: str, params: dict) -> str:
    """'bn.train.running_var[decay=0.7,layout=NCHW,dtype=float32]': the key of results and deviations."""
    inner = ",".join(f"{k}={v}" for k, v in params.items())
    return f"{behaviour_id}[{inner}]" if inner else behaviour_id


@functools.cache
def behaviours(directory: Path = SPECS / "behaviours") -> dict[str, Behaviour]:
    """The catalogue, by id, from every <family>.yaml under ``directory``. Duplicate ids are an error."""
    catalogue = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        for i, entry in enumerate(load_yaml(path, "behaviours")):
            if entry["id"] in catalogue:
                raise SpecError(f"{path}: {i}/id: duplicate behaviour id {entry['id']!r}")
            entry["requires"] = tuple(entry.get("requires", ()))
            catalogue[entry["id"]] = Behaviour(**entry)
    return catalogue


def catalogue_check_ids() -> list[str]:
    """The check id of every case of every behaviour in the catalogue."""
    return [check_id(b.id, values) for b in behaviours().values() for values in b.cases()]


@functools.cache
def tolerances(path: Path = SPECS / "tolerances.yaml") -> dict[str, dict]:
    """{dtype: {'rtol': r, 'atol': a}}."""
    return load_yaml(path, "tolerances")


class Profile:
    """A framework's documented conventions (specs/profiles/<framework>.yaml)."""

    def __init__(self, data: dict, path: Path):
        self.data, self.path = data, path

    def get(self, dotted: str, default=None):
        """The value at 'batchnorm.defaults.eps', or ``default`` where any part is absent."""
        node = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def has(self, dotted: str) -> bool:
        return self.get(dotted, _MISSING) is not _MISSING

    def native(self, layer: str, **neutral) -> dict:
        """Spell neutral parameters as the framework's arguments: decay=0.7 -> {'momentum': 0.3} for torch.

        A neutral word the profile does not map raises SpecError naming the profile and the word.
        """
        mapping = self.get(f"{layer}.arguments", {})
        native = {}
        for word, value in neutral.items():
            if word not in mapping:
                raise SpecError(f"{self.path}: {layer}/arguments: no argument for {word!r}")
            arg = mapping[word]
            converted = NEUTRAL_MAPS[arg.get("map", "identity")](value)
            for name in arg.get("names", [arg.get("name")]):
                native[name] = converted
        return native


_MISSING = object()


def merged(base: dict, override: dict) -> dict:
    """``base`` with ``override`` laid over it, mapping by mapping; override's values win."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _profile_data(framework: str, directory: Path, chain: tuple = ()) -> dict:
    """The profile's data with the profiles it ``extends`` laid under it."""
    path = directory / f"{framework}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in directory.glob("*.yaml"))
        raise SpecError(f"{path}: no profile for framework {framework!r}; profiles exist for {known}")
    if framework in chain:
        raise SpecError(f"{path}: extends: cycle {' -> '.join((*chain, framework))}")
    data = read_yaml(path)
    if isinstance(data, dict) and "extends" in data:
        data = merged(_profile_data(data["extends"], directory, (*chain, framework)),
                      {k: v for k, v in data.items() if k != "extends"})
    return data


@functools.cache
def profile(framework: str, directory: Path = SPECS / "profiles") -> Profile:
    """The framework's profile; ``extends: <other framework>`` lays that profile under this one."""
    path = directory / f"{framework}.yaml"
    data = load_yaml(path, "profile", _profile_data(framework, directory))
    if data["framework"] != framework:
        raise SpecError(f"{path}: framework: says {data['framework']!r}, file name says {framework!r}")
    loaded = Profile(data, path)
    for key in data.get("not_expressible", {}):
        if loaded.has(key) or key.startswith("dtypes.") and key.removeprefix("dtypes.") in data["dtypes"]:
            raise SpecError(f"{path}: not_expressible/{key}: the profile has {key}, so it is expressible")
    return loaded


@functools.cache
def deviations(framework: str, directory: Path = SPECS / "deviations") -> tuple[dict, ...]:
    """Declared deviations of ``framework`` (empty when it has no file)."""
    path = directory / f"{framework}.yaml"
    return tuple(load_yaml(path, "deviations") or ()) if path.exists() else ()
