"""The suite's data and its loader (imported as ``layerconf.specs``): the behaviour catalogue
(behaviours/, and its layers' headings in layers.yaml), one file per flavour (flavours/: its manifest and its
profile), tolerances, deviations.

Every loader validates its file against a JSON schema in layerconf/schemas and raises SpecError naming
the file and the field at fault.
"""
import contextlib
import functools
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from layerconf import SCHEMAS
from layerconf import external as entry_points

DIRECTORY = Path(__file__).resolve().parent
NEUTRAL_MAPS = {
    "identity": lambda v: v,
    "one_minus": lambda v: None if v is None else 1.0 - v,
    # a noise shape spelt as the axes it broadcasts along (Flax broadcast_dims): (16, 1, 12) -> (1,)
    "unit_axes": lambda v: tuple(i for i, size in enumerate(v) if size == 1),
    # a noise shape spelt as the axes it draws along (Paddle axis): (16, 1, 12) -> [0, 2]
    "drawn_axes": lambda v: [i for i, size in enumerate(v) if size != 1],
}


class SpecError(ValueError):
    """A spec file is missing, unreadable or does not match its schema."""


def read_yaml(path: Path):
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SpecError(f"{path}: cannot read: {err}") from err


@functools.cache
def _schema(name: str) -> dict:
    """schemas/<name>.json, read once; the profile's schema gains one section per layer beyond BatchNorm and
    Dropout, each defined in its own schemas/profile/<section>.json (rrelu.json: the profile's ``rrelu``)."""
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    if name == "profile":
        for path in sorted((SCHEMAS / "profile").glob("*.json")):
            schema["properties"][path.stem] = json.loads(path.read_text())
    return schema


def load_yaml(path: Path, schema: str, data=None):
    """Parse ``path`` (or take its already merged ``data``) and validate it against schemas/<schema>.json."""
    data = read_yaml(path) if data is None else data
    validator = jsonschema.Draft202012Validator(_schema(schema))
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
    layout_free: bool = False   # the grid's layouts are alternatives: checked in the first one a flavour offers
    opsets_from: str | None = None

    def cases(self) -> list[dict]:
        """Every combination of the grid's values, in the grid's key order."""
        keys = list(self.grid)
        return [dict(zip(keys, values)) for values in itertools.product(*self.grid.values())]


def check_id(behaviour_id: str, params: dict) -> str:
    """'bn.train.running_var[decay=0.7,layout=NCHW,dtype=float32]': the key of results and deviations."""
    inner = ",".join(f"{k}={v}" for k, v in params.items())
    return f"{behaviour_id}[{inner}]" if inner else behaviour_id


@functools.cache
def behaviours(directory: Path = DIRECTORY / "behaviours") -> dict[str, Behaviour]:
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
def layers(path: Path = DIRECTORY / "layers.yaml") -> dict[str, str]:
    """The catalogue's layers in the report's order: {a family's first word: its heading}."""
    return load_yaml(path, "layers")


@functools.cache
def tolerances(path: Path = DIRECTORY / "tolerances.yaml") -> dict[str, dict]:
    """{dtype: {'rtol': r, 'atol': a}}."""
    return load_yaml(path, "tolerances")


class Profile:
    """A flavour's documented conventions: specs/flavours/<name>.yaml without its manifest."""

    def __init__(self, name: str, data: dict, path: Path):
        self.name, self.data, self.path = name, data, path

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

    def overridden(self, changes: dict) -> "Profile":
        """A copy whose dotted paths hold other values: {'batchnorm.running_var_correction': 'unbiased'}."""
        data = self.data
        for dotted, value in changes.items():
            *parents, last = dotted.split(".")
            override = {last: value}
            for part in reversed(parents):
                override = {part: override}
            data = merged(data, override)
        return Profile(self.name, data, self.path)

    def layer_class(self, section: str, kind: str | None = None, layout: str | None = None) -> str | None:
        """The class the profile names for a layer of ``section``: under ``kind`` (an entry of the section's
        ``classes`` or ``variants``, or of the section itself: batchnorm_variants.sync), its ``class``, else its
        entry for ``layout`` (``layouts``, or a mapping by layout); None where it names none."""
        node = self.get(section)
        if kind is not None and isinstance(node, dict):
            node = next((node[k][kind] for k in ("classes", "variants") if kind in node.get(k, {})), node.get(kind))
        while isinstance(node, dict):
            node = node["class"] if "class" in node else node.get("layouts", node).get(layout)
        return node

    def native(self, layer: str, **neutral) -> dict:
        """Spell neutral parameters as the framework's arguments: decay=0.7 -> {'momentum': 0.3} for torch; an
        argument's ``values`` respell a neutral value (scaling='inference' -> mode='downscale_in_infer' for paddle).

        A neutral word the profile does not map raises SpecError naming the profile and the word.
        """
        mapping = self.get(f"{layer}.arguments", {})
        native = {}
        for word, value in neutral.items():
            if word not in mapping:
                raise SpecError(f"{self.path}: {layer}/arguments: no argument for {word!r}")
            arg = mapping[word]
            converted = NEUTRAL_MAPS[arg.get("map", "identity")](value)
            if "values" in arg:
                converted = arg["values"][converted]
            for name in arg.get("names", [arg.get("name")]):
                native[name] = converted
        return native


_MISSING = object()


def merged(base: dict, override: dict) -> dict:
    """``base`` with ``override`` laid over it, mapping by mapping; override's values win, and a null value
    removes the key (a flavour that cannot do what the one it extends does)."""
    out = dict(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


FLAVOURS = DIRECTORY / "flavours"


def flavour_names(directory: Path = FLAVOURS) -> list[str]:
    """Every flavour with a file under ``directory`` (the shipped ones), in name order; layerconf.flavours.names()
    adds those other packages register."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def external(name: str, directory: Path = FLAVOURS):
    """The flavour ``name`` another package registers (layerconf.external.External), None for a shipped or unknown
    one; an unusable entry point raises SpecError naming its package."""
    if directory != FLAVOURS:
        return None
    try:
        return entry_points.find(name, (directory / f"{name}.yaml").exists())
    except ValueError as err:
        raise SpecError(str(err)) from err


@contextlib.contextmanager
def naming(name: str, directory: Path = FLAVOURS):
    """A SpecError about a flavour another package registers (its file, its deviations) names the package and the
    entry point first."""
    try:
        yield
    except SpecError as err:
        found = external(name, directory)
        if found is None or str(err).startswith(found.origin):
            raise
        raise SpecError(f"{found.origin}: {err}") from err


def _flavour_file(name: str, directory: Path) -> tuple[Path, dict]:
    found = external(name, directory)
    path = found.path if found else directory / f"{name}.yaml"
    if not path.exists():
        raise SpecError(f"{path}: no flavour {name!r}; flavours: {flavour_names(directory)}")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: (top level): expected a mapping with a manifest and a profile")
    return path, data


def _profile_data(name: str, directory: Path, chain: tuple = ()) -> dict:
    """The flavour's conventions (its file less the manifest) with the profiles it ``extends`` laid under."""
    path, data = _flavour_file(name, directory)
    if name in chain:
        raise SpecError(f"{path}: extends: cycle {' -> '.join((*chain, name))}")
    data = {k: v for k, v in data.items() if k != "manifest"}
    if "extends" in data:
        data = merged(_profile_data(data.pop("extends"), directory, (*chain, name)), data)
    return data


@functools.cache
def profile(name: str, directory: Path = FLAVOURS) -> Profile:
    """The flavour's profile; ``extends: <other flavour>`` lays that profile under this one (the manifest is
    never inherited)."""
    with naming(name, directory):
        path = _flavour_file(name, directory)[0]
        data = load_yaml(path, "profile", _profile_data(name, directory))
        loaded = Profile(name, data, path)
        for key in data.get("not_expressible", {}):
            listed, _, last = key.rpartition(".")   # dtypes.float16, batchnorm.dtypes.float16: an entry of a list
            if loaded.has(key) or isinstance(loaded.get(listed), list) and last in loaded.get(listed):
                raise SpecError(f"{path}: not_expressible/{key}: the profile has {key}, so it is expressible")
    return loaded


def profile_field(dotted: str) -> bool:
    """Whether 'batchnorm.update_weight_dtype' names a field the profile schema defines."""
    node = _schema("profile")
    for part in dotted.split("."):
        named, other = node.get("properties", {}), node.get("additionalProperties")
        node = named.get(part, other if isinstance(other, dict) else None)   # a mapping's entries: augmentation.draws.contrast
        if node is None:
            return False
    return True


@functools.cache
def manifest(name: str, directory: Path = FLAVOURS) -> dict:
    """The flavour's manifest: the ``manifest`` section of its file, validated (schemas/manifest.json)."""
    with naming(name, directory):
        path, data = _flavour_file(name, directory)
        if "manifest" not in data:
            raise SpecError(f"{path}: manifest: missing: every flavour file starts with its manifest")
        return load_yaml(path, "manifest", data["manifest"])


def deviation_directory(flavour: str, name: str) -> Path:
    """The folder of the deviations file ``name`` that ``flavour``'s manifest lists: specs/deviations/, or for a
    flavour another package registers, its own deviations/ folder where that holds the file."""
    found = external(flavour)
    own = found and found.deviations(name)
    if found and not own and not (DIRECTORY / "deviations" / f"{name}.yaml").exists():
        raise SpecError(f"{found.origin}: deviations: no file {name}.yaml in {found.path.parent / 'deviations'} "
                        f"or among the shipped ones ({', '.join(sorted(p.stem for p in (DIRECTORY / 'deviations').glob('*.yaml')))})")
    return own.parent if own else DIRECTORY / "deviations"


@functools.cache
def deviation_file(name: str, directory: Path = DIRECTORY / "deviations") -> tuple[dict, ...]:
    """The declarations of specs/deviations/<name>.yaml (schemas/deviations.json); layerconf.deviations
    interprets them."""
    return tuple(load_yaml(directory / f"{name}.yaml", "deviations") or ())
