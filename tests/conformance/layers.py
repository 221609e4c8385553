"""The one way a check builds a layer: ``Adapter.layer(section, LayerConfig)``, its arguments spelt the framework's
way by the profile."""
from layerconf.adapters.base import LayerConfig


def make_layer(adapter, profile, section: str, dtype: str, *, layout=None, channels=None, kind=None, sizes=None, native=None,
          kernel=None, **neutral):
    """The layer of profile section ``section`` for input of ``dtype``; ``neutral`` parameters (decay=0.7, rate=0.5)
    spelt by the profile's ``<section>.arguments``, laid over ``native`` (arguments already spelt); ``kernel``: a
    name of the profile's ``<section>.kernels`` (None: the default path), whose ``arguments`` are laid over both."""
    entry = profile.get(f"{section}.kernels.{kernel}") if kernel else {}
    if entry is None:
        raise ValueError(f"{profile.name}: its profile has no {section}.kernels.{kernel}")
    spelt = {**(native or {}), **profile.native(section, **neutral), **entry.get("arguments", {})}
    return adapter.layer(section, LayerConfig(dtype, layout, channels, kind, sizes or {}, spelt, entry))
