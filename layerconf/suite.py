"""The conformance suite in this process: ``python -m layerconf.suite --flavour F [options] [pytest options]``.

``pytest_args`` points pytest at the installed conformance tests (the package layerconf.conformance) with
the suite's own configuration (layerconf/pytest.ini), so the directory it starts in, and any pytest
configuration there, changes nothing. ``command`` is the process command line every caller uses:
``layerconf run``, the version matrix, the benchmarks and the tox environments. ``--framework``, the
option's former name, is the same option as ``--flavour`` (layerconf.plugin).
"""
import importlib.util
import sys
from pathlib import Path

INI = Path(__file__).resolve().with_name("pytest.ini")


def command(flavour: str, *, results=None, events=None, seed: int | None = None, device: str | None = None,
            extra=(), python: str = sys.executable) -> list[str]:
    """The command line that runs the suite for ``flavour`` (results, events to those paths when given)."""
    args = [str(python), "-m", "layerconf.suite", "--flavour", flavour]
    for option, value in (("--results", results), ("--events", events), ("--seed", seed), ("--device", device)):
        if value is not None:
            args += [option, str(value)]
    return args + [str(a) for a in extra]


def pytest_args(argv) -> list[str]:
    """pytest's arguments: the conformance package, its configuration, the plugin by name (registered once where its
    entry point is installed too; the only registration in a checkout that is not installed, or with
    PYTEST_DISABLE_PLUGIN_AUTOLOAD set), then ``argv``."""
    tests = importlib.util.find_spec("layerconf.conformance").submodule_search_locations[0]
    return ["--pyargs", "layerconf.conformance", "-c", str(INI), "--rootdir", tests, "-p", "no:cacheprovider",
            "-p", "layerconf.plugin", *argv]


def main(argv=None) -> int:
    """pytest's exit status, except that a usage error (a device the flavour does not have, an unknown flavour,
    a bad option: pytest's 4) is 2, the exit status of bad input across layerconf, and an interruption (pytest's
    2) is 130, as a shell reports one."""
    import pytest
    status = pytest.main(pytest_args(sys.argv[1:] if argv is None else argv))
    return {pytest.ExitCode.USAGE_ERROR: 2, pytest.ExitCode.INTERRUPTED: 130}.get(status, int(status))


if __name__ == "__main__":
    sys.exit(main())
