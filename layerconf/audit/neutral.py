"""The profile read backwards: which classes are training-flag layers, and a layer's arguments in neutral words.

The profile spells neutral parameters as the framework's arguments (``Profile.native``: decay=0.7 is torch's
momentum=0.3); here a layer's own argument values are read back into those words, with the same maps.
"""
from layerconf.audit.records import Setting

# profile section -> the family whose arguments spell its settings (a BatchNorm variant is a BatchNorm)
SECTIONS = {"batchnorm": "batchnorm", "batchnorm_variants": "batchnorm", "dropout": "dropout",
            "instance_norm": "instance_norm", "rrelu": "rrelu", "stochastic_depth": "stochastic_depth",
            "gaussian_noise": "gaussian_noise", "attention": "attention", "recurrent": "recurrent",
            "augmentation": "augmentation"}
INVERSES = {"identity": lambda v: v, "one_minus": lambda v: None if v is None else 1.0 - v}   # each its own inverse
MISSING = object()


def _names(node, kind=None, by_layout=False):
    """(class name, kind) pairs a profile section names: its class, its layouts' classes, its classes and
    variants by kind, a variant's classes by layout (dropout.variants.channel.NCHW)."""
    if isinstance(node, str):
        yield node, kind
    elif isinstance(node, dict) and by_layout and not {"class", "layouts"} & set(node):
        for sub in node.values():
            yield from _names(sub, kind)
    elif isinstance(node, dict):
        if "class" in node:
            yield node["class"], kind
        for key in ("layouts", "classes", "variants"):
            for name, sub in (node.get(key) if isinstance(node.get(key), dict) else {}).items():
                yield from _names(sub, kind if key == "layouts" else name, by_layout=True)


def classes(profile) -> dict[str, tuple[str, str | None]]:
    """Every class name the profile gives a training-flag layer -> (family, kind), in the sections' order."""
    found = {}
    for section, family in SECTIONS.items():
        node = profile.get(section)
        variants = section == "batchnorm_variants" and isinstance(node, dict)
        for variant, entry in node.items() if variants else [(None, node)]:
            for name, kind in _names(entry, variant):
                found.setdefault(name, (family, kind))
    return found


def settings(profile, family: str, read) -> list[Setting]:
    """The family's arguments (profile ``<family>.arguments``) in neutral words; ``read(name)`` returns the
    layer's value of a native argument, or MISSING. Words whose map cannot be read back are left out."""
    out = []
    for word, argument in profile.get(f"{family}.arguments", {}).items():
        inverse = INVERSES.get(argument.get("map", "identity"))
        native = {name: read(name) for name in argument.get("names", [argument.get("name")])}
        if inverse is None or any(v is MISSING for v in native.values()):
            continue
        values = [inverse(_respelt(argument, v)) for v in native.values()]
        out.append(Setting(word, values[0] if all(v == values[0] for v in values) else "mixed", native))
    return out


def _respelt(argument: dict, value):
    """A native value back to the neutral one where the profile respells it (``values``: neutral -> native)."""
    back = {native: neutral for neutral, native in argument.get("values", {}).items()}
    return back.get(value, value)


def spelled(setting: Setting) -> str:
    """'decay 0.9 (momentum=0.1)'; 'eps 1e-05' where the framework spells it the same."""
    native = ", ".join(f"{name}={_number(v)}" for name, v in setting.native.items())
    text = f"{setting.word} {_number(setting.value)}"
    return text if native == f"{setting.word}={_number(setting.value)}" else f"{text} ({native})"


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
