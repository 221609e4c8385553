"""tox environments derived from the flavours' manifests (specs/flavours/<flavour>.yaml).

Each flavour gets an environment of its name: the manifest's extra installed, its process environment set
(KERAS_BACKEND), the suite run by ``python -m layerconf.suite`` into results/<flavour>.json, then the
self-tests the manifest lists. tox.ini keeps what is not a flavour (self, lint, run).

Each flavour also gets <flavour>-pre (not in env_list: run it by name): the same with pre-releases allowed (tox's
pip_pre), into results/<flavour>-pre.json. LAYERCONF_INDEX_URL, where set, is one more package index for every
flavour environment (UV_EXTRA_INDEX_URL and PIP_EXTRA_INDEX_URL): with the PyTorch nightly index,
`LAYERCONF_INDEX_URL=https://download.pytorch.org/whl/nightly/cpu tox -e torch-pre` checks tonight's torch.
"""
import os
import sys
from pathlib import Path

from tox.config.loader.memory import MemoryLoader
from tox.config.types import Command
from tox.plugin import impl

ROOT = Path(__file__).resolve().parent
PRE = "-pre"
INDEX_URL = "LAYERCONF_INDEX_URL"


def _manifests() -> dict:
    """flavour -> manifest; empty until PyYAML is importable (tox.ini's requires provisions it)."""
    try:
        import yaml
    except ImportError:
        return {}
    return {path.stem: yaml.safe_load(path.read_text())["manifest"]
            for path in sorted((ROOT / "specs" / "flavours").glob("*.yaml"))}


def _suite_command(flavour: str, posargs, results: str) -> list[str]:
    sys.path.insert(0, str(ROOT))
    try:
        from layerconf.suite import command  # the one place the suite's command line is built
    finally:
        sys.path.remove(str(ROOT))
    return command(flavour, results=ROOT / "results" / f"{results}.json", python="python", extra=posargs)


@impl
def tox_extend_envs():
    return (*_manifests(), *(name + PRE for name in _manifests()))


@impl
def tox_add_core_config(core_conf, state):
    listed = core_conf["env_list"]   # tox.ini's env_list, extended in place (the loaded value is cached)
    listed.envs.extend(name for name in _manifests() if name not in listed.envs)


@impl
def tox_add_env_config(env_conf, state):
    manifests = _manifests()
    pre = env_conf.name not in manifests and env_conf.name.endswith(PRE)
    flavour = env_conf.name.removesuffix(PRE) if pre else env_conf.name
    manifest = manifests.get(flavour)
    if manifest is None:
        return
    posargs = state.conf.pos_args(None) or ()
    # a flavour that needs a command-line option (onnx-backend: --onnx-backend) runs through its self-tests, which
    # name the option's values; the suite without it would refuse its input
    commands = [] if manifest.get("needs_option") else [Command(_suite_command(flavour, posargs, env_conf.name))]
    commands += [Command(["pytest", str(ROOT / path), "-p", "no:cacheprovider"]) for path in manifest.get("self_tests", [])]
    index = {"UV_EXTRA_INDEX_URL": os.environ[INDEX_URL], "PIP_EXTRA_INDEX_URL": os.environ[INDEX_URL]} \
        if os.environ.get(INDEX_URL) else {}
    env_conf.loaders.insert(0, MemoryLoader(
        description=f"{manifest['title']}{', pre-releases allowed' if pre else ''}; results in results/{env_conf.name}.json",
        extras=[manifest["extra"]], set_env={**manifest["environment"], **index}, pip_pre=pre,
        change_dir=env_conf["env_tmp_dir"], commands=commands))
