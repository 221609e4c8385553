"""layerconf: behavioural conformance of BatchNormalization and Dropout across frameworks."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
__version__ = "0.1.0"
