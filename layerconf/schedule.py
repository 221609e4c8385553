"""The order `layerconf run` starts flavours in: the longest first, so that the jobs finish together.

A flavour's expected time is its duration in the last run on this machine (``durations.json`` in layerconf's cache
folder, ``runs``; written after every run for the flavours that completed), else the estimate shipped in
schedule.yaml, else 0. Equal times keep the order given. With caching off (layerconf.cache) nothing is kept."""
import json
from pathlib import Path

import yaml

from layerconf import cache

ESTIMATES = Path(__file__).with_name("schedule.yaml")


def _kept() -> Path | None:
    where = cache.folder("runs")
    return None if where is None else where / "durations.json"


def _last() -> dict[str, float]:
    """This machine's last durations ({} when none are kept, or the file is unreadable)."""
    path = _kept()
    try:
        return json.loads(path.read_text()) if path is not None and path.exists() else {}
    except ValueError:
        return {}


def expected() -> dict[str, float]:
    """Flavour -> expected seconds: the shipped estimates, overridden by this machine's last durations."""
    return {**yaml.safe_load(ESTIMATES.read_text()), **_last()}


def order(names: list[str]) -> list[str]:
    """``names``, the longest expected first."""
    durations = expected()
    return sorted(names, key=lambda name: -durations.get(name, 0.0))


def remember(durations: dict[str, float]) -> None:
    """Keep the durations of the flavours that completed, for the next run's order (written whole or not at all)."""
    path = _kept()
    if path is None or not durations:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**_last(), **{k: round(v, 1) for k, v in durations.items()}}, indent=1, sort_keys=True))
    tmp.replace(path)
