"""The repository's pytest entry: the layerconf plugin (layerconf/plugin.py: --flavour, --results,
--seed, --device, parametrization over the catalogue, deviations, records).

Installed, the package registers the plugin by entry point under the module's own name, so naming it
here as well registers it once; here it also serves runs with PYTEST_DISABLE_PLUGIN_AUTOLOAD set.
"""
pytest_plugins = ["layerconf.plugin"]
