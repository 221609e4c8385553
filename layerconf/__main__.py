"""python -m layerconf: the command line (layerconf.cli)."""
import sys

from layerconf.cli import main

sys.exit(main())
