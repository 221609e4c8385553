"""layerconf: behavioural conformance of the layers whose behaviour depends on the training flag.

The package holds the repository's top-level folders as subpackages (links in the checkout, files in the
wheel): layerconf.reference = reference/, layerconf.adapters = adapters/, layerconf.specs = specs/ (the
data and its loader), layerconf.conformance = tests/conformance/. Nothing here imports a framework.
"""
from pathlib import Path

__version__ = "0.1.0"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
