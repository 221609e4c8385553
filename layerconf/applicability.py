"""Whether a behaviour's case applies to a flavour, from its profile alone.

A case is not applicable when the profile declares the behaviour not expressible, lacks a field the
behaviour requires, when its dtype is not among the profile's dtypes (the layer's own, batchnorm.dtypes or
dropout.dtypes, where the profile narrows them for that layer), or when its layout is not among
the layouts the behaviour's layer offers (the profile field named by the behaviour's ``layouts_from``), or
when the behaviour is ``layout_free`` and the flavour offers an earlier layout of its grid (checked there), or
when its operator version is not among those the runtime implements (the field named by ``opsets_from``: a
version, or {opset, versions}: a version the runtime implements from some release on, a PEP 440 range of the
framework's version; with no version given, as in the self-tests, every listed opset counts).
A case of a grid parameter ``kernel`` applies where the layer's ``kernels`` name it (for its layout and kind).
The profile's ``not_expressible`` mapping (a field path or behaviour id -> why) supplies the reason.
"""
from packaging.specifiers import SpecifierSet
from packaging.version import Version


def not_applicable(behaviour, params: dict, profile, version: str | None = None) -> str | None:
    """The reason the case does not apply, or None when it does (``version``: the framework's)."""
    name = profile.name
    if behaviour.id in _reasons(profile):
        return f"{name} cannot express {behaviour.id}: {_reasons(profile)[behaviour.id]}"
    for path in behaviour.requires:
        if not profile.has(path):
            return f"{name} profile has no {path}" + _why(profile, path)
    if "kernel" in params and (reason := _kernel(behaviour, params, profile)):
        return reason
    dtypes = _dtypes_path(behaviour, profile)
    if "dtype" in params and params["dtype"] not in profile.get(dtypes):
        return f"dtype {params['dtype']} not in the profile's {dtypes} {profile.get(dtypes)}" + _why(profile, f"{dtypes}.{params['dtype']}")
    if "layout" in params and params["layout"] not in profile.get(behaviour.layouts_from, {}):
        return (f"layout {params['layout']} not in {behaviour.layouts_from} of the profile"
                + _why(profile, f"{behaviour.layouts_from}.{params['layout']}"))
    if behaviour.layout_free and "layout" in params:
        first = next(layout for layout in behaviour.grid["layout"] if layout in profile.get(behaviour.layouts_from))
        if params["layout"] != first:
            return f"{behaviour.id} does not depend on the layout: {name} checks it in {first}"
    if "opset" in params and behaviour.opsets_from and params["opset"] not in _opsets(profile, behaviour.opsets_from, version):
        return (f"opset {params['opset']} not in {behaviour.opsets_from} of the profile"
                + (f" for version {version}" if version else "") + _why(profile, f"{behaviour.opsets_from}.{params['opset']}"))
    return None


def _kernel(behaviour, params: dict, profile) -> str | None:
    """Why the case's ``kernel`` does not apply: the layer's ``kernels`` (profile ``<layer>.kernels``, the layer being
    the family's first word) lack it, or it runs other layouts or kinds only."""
    section = f"{behaviour.family.split('.')[0]}.kernels"
    path = f"{section}.{params['kernel']}"
    entry = profile.get(path)
    if entry is None:
        return f"{profile.name} profile has no {path}" + (_why(profile, path) or _why(profile, section))
    for key, listed in (("layout", "layouts"), ("kind", "kinds")):
        if key in params and listed in entry and params[key] not in entry[listed]:
            return f"the {params['kernel']} kernel runs {listed} {entry[listed]} only" + _why(profile, f"{path}.{listed}.{params[key]}")
    return None


def _opsets(profile, path: str, version: str | None) -> list[int]:
    """The opsets the profile lists at ``path`` that ``version`` implements."""
    return [e if isinstance(e, int) else e["opset"] for e in profile.get(path, [])
            if isinstance(e, int) or version is None or Version(Version(version).public) in SpecifierSet(e["versions"])]


def _dtypes_path(behaviour, profile) -> str:
    """'batchnorm.dtypes' for a batchnorm.* behaviour of a profile that narrows that layer's dtypes, else 'dtypes'."""
    layer = behaviour.family.split(".")[0]
    return f"{layer}.dtypes" if profile.has(f"{layer}.dtypes") else "dtypes"


def _reasons(profile) -> dict:
    return profile.data.get("not_expressible", {})


def _why(profile, path: str) -> str:
    reason = _reasons(profile).get(path)
    return f": {reason}" if reason else ""
