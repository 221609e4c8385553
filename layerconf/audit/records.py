"""What an audit records: each training-flag layer, each call of it, what was measured and the hazards found."""
import contextlib
from dataclasses import dataclass, field

import numpy as np

TRAINING, INFERENCE = "training", "inference"
PASSES = ("step", "inference")   # the user's training step, then an inference call


@contextlib.contextmanager
def recording(recorder):
    """One pass of ``recorder``: its ``calls`` a fresh {} (yielded) during the pass, None outside it."""
    recorder.calls = {}
    try:
        yield recorder.calls
    finally:
        recorder.calls = None


@dataclass(frozen=True)
class Setting:
    """One argument in neutral words (decay 0.9) beside the framework's spelling ({'momentum': 0.1})."""

    word: str
    value: object
    native: dict


@dataclass
class Call:
    """A layer's first call in one pass: the training flag it received (torch: module.training at the call), the
    examples in its batch, and where the pass ran eagerly, its input, output and state before and after
    (gamma, beta, running_mean, running_var as NumPy arrays); ``dtype`` of the output; ``calls`` in the pass."""

    flag: bool | None
    batch: int | None
    dtype: str | None = None
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    calls: int = 1


@dataclass
class Measured:
    """A pass's mode (None: not called), how it was told ('output', 'statistics' or 'flag'), and the check
    against the reference in that mode (a dict; None with ``note`` saying why there is none)."""

    mode: str | None
    how: str | None = None
    check: dict | None = None
    note: str | None = None


@dataclass
class Layer:
    """One training-flag layer of the model, as the framework part observed it. ``family``: the profile section
    whose arguments spell its settings (batchnorm, dropout, ...); ``kind``: its variant (element, channel, ...);
    ``left_in``: the mode the model was handed over with (torch's module.training; None where the framework
    holds no mode); ``frozen``: None for a layer without weights (torch)."""

    path: str
    cls: str
    family: str
    kind: str | None
    settings: list
    layout: str | None
    dtype: str | None
    frozen: bool | None
    left_in: str | None
    weights_changed: bool | None
    statistics_changed: bool | None
    calls: dict = field(default_factory=dict)         # pass ('step', 'inference') -> Call or None
    measured: dict = field(default_factory=dict)      # pass -> Measured

    def neutral(self) -> dict:
        return {s.word: s.value for s in self.settings}


@dataclass(frozen=True)
class Finding:
    """A hazard on one layer: the rule's id and the sentence about this layer."""

    hazard: str
    path: str
    sentence: str


@dataclass
class Observed:
    """What a framework part hands back: the layers, the framework's version, how the model was kept unchanged,
    which step ran, and the batch's shape and dtype."""

    layers: list
    version: str
    kept: str
    step: str
    batch: str
