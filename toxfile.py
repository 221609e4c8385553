"""tox environments derived from the flavours' manifests (specs/flavours/<flavour>.yaml).

Each flavour gets an environment of its name: the manifest's extra installed, its process environment set
(KERAS_BACKEND), the suite run by ``python -m layerconf.suite`` into results/<flavour>.json, then the
self-tests the manifest lists. tox.ini keeps what is not a flavour (self, lint, run).
"""
import sys
from pathlib import Path

from tox.config.loader.memory import MemoryLoader
from tox.config.types import Command
from tox.plugin import impl

ROOT = Path(__file__).resolve().parent


def _manifests() -> dict:
    """flavour -> manifest; empty until PyYAML is importable (tox.ini's requires provisions it)."""
    try:
        import yaml
    except ImportError:
        return {}
    return {path.stem: yaml.safe_load(path.read_text())["manifest"]
            for path in sorted((ROOT / "specs" / "flavours").glob("*.yaml"))}


def _suite_command(flavour: str, posargs) -> list[str]:
    sys.path.insert(0, str(ROOT))
    try:
        from layerconf.suite import command  # the one place the suite's command line is built
    finally:
        sys.path.remove(str(ROOT))
    return command(flavour, results=ROOT / "results" / f"{flavour}.json", python="python", extra=posargs)


@impl
def tox_extend_envs():
    return tuple(_manifests())


@impl
def tox_add_core_config(core_conf, state):
    listed = core_conf["env_list"]   # tox.ini's env_list, extended in place (the loaded value is cached)
    listed.envs.extend(name for name in _manifests() if name not in listed.envs)


@impl
def tox_add_env_config(env_conf, state):
    manifest = _manifests().get(env_conf.name)
    if manifest is None:
        return
    posargs = state.conf.pos_args(None) or ()
    commands = [Command(_suite_command(env_conf.name, posargs))]
    commands += [Command(["pytest", str(ROOT / path), "-p", "no:cacheprovider"]) for path in manifest.get("self_tests", [])]
    env_conf.loaders.insert(0, MemoryLoader(
        description=f"{manifest['title']}; results in results/{env_conf.name}.json",
        extras=[manifest["extra"]], set_env=manifest["environment"], change_dir=env_conf["env_tmp_dir"], commands=commands))
