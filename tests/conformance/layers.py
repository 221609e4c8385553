"""The one way a check builds a layer: ``Adapter.layer(section, LayerConfig)``, its arguments spelt the framework's
way by the profile."""
from layerconf.adapters.base import LayerConfig


def make_layer(adapter, profile, section: str, dtype: str, *, layout=None, channels=None, kind=None, sizes=None, native=None,
          **neutral):
    """The layer of profile section ``section`` for input of ``dtype``; ``neutral`` parameters (decay=0.7, rate=0.5)
    spelt by the profile's ``<section>.arguments``, laid over ``native`` (arguments already spelt)."""
    spelt = {**(native or {}), **profile.native(section, **neutral)}
    return adapter.layer(section, LayerConfig(dtype, layout, channels, kind, sizes or {}, spelt))
