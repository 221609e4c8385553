"""The hazards: rules over a measured layer, each a sentence about the layer; the fix is the framework part's
(``FIXES``, in the framework's words), grouped by hazard for the report.

frozen_statistics_move     a frozen layer whose running statistics moved in the step
inference_layer_training   a layer meant for inference (frozen, or handed over in inference mode) training in the step
inference_only_while_frozen  a BatchNorm told training=True in the step, in inference only because it is frozen
training_in_inference      a layer training in the inference call (dropout active in inference)
momentum_convention        a BatchNorm decay that reads as the other convention's momentum (0.99 in torch, 0.01 in Keras)
eps_below_resolution       eps below the resolution of the dtype the layer holds its statistics in
tiny_batch                 a training BatchNorm on a batch of one, or of fewer than TINY examples
"""
import math

import numpy as np

from layerconf.audit.records import INFERENCE, TRAINING, Finding, Layer
from layerconf.reference.dtypes import NUMPY

TITLES = {
    "frozen_statistics_move": "frozen layer whose statistics still move",
    "inference_layer_training": "layer meant for inference that is training",
    "inference_only_while_frozen": "in inference only because it is frozen",
    "training_in_inference": "training in inference",
    "momentum_convention": "momentum that reads as the other framework's convention",
    "eps_below_resolution": "eps below the dtype's resolution",
    "tiny_batch": "BatchNorm on a tiny batch",
}
TINY = 8   # examples per call below which batch statistics are called tiny
DECAY_BELOW = 0.5   # a decay (weight on the old running value) below this reads as the other convention


def findings(layer: Layer, profile) -> list[Finding]:
    """Every hazard the layer shows, in TITLES' order."""
    rules = (_frozen_statistics, _inference_training, _frozen_only, _training_in_inference, _momentum, _eps, _tiny)
    return [Finding(hazard, layer.path, sentence)
            for rule in rules for hazard, sentence in [rule(layer, profile)] if sentence]


def _mode(layer: Layer, name: str):
    measured = layer.measured.get(name)
    return measured.mode if measured else None


def _frozen_statistics(layer, profile):
    if layer.frozen and layer.statistics_changed:
        handed = " and was handed over in inference mode" if layer.left_in == INFERENCE else ""
        return "frozen_statistics_move", (f"{layer.path} is frozen (its weights do not train){handed}, yet its running "
                                          f"statistics moved in the step: it ran in training mode")
    return "frozen_statistics_move", None


def _inference_training(layer, profile):
    meant = "frozen" if layer.frozen else "handed over in inference mode" if layer.left_in == INFERENCE else None
    if meant and _mode(layer, "step") == TRAINING and not (layer.frozen and layer.statistics_changed):
        return "inference_layer_training", f"{layer.path} is {meant}, yet it ran in training mode in the step"
    return "inference_layer_training", None


def _frozen_only(layer, profile):
    call = layer.calls.get("step")
    if layer.family == "batchnorm" and layer.frozen and call and call.flag and _mode(layer, "step") == INFERENCE:
        return "inference_only_while_frozen", (f"{layer.path} received training=True in the step and ran in inference "
                                               f"only because it is frozen: unfrozen, it will train and move its statistics")
    return "inference_only_while_frozen", None


def _training_in_inference(layer, profile):
    if _mode(layer, "inference") == TRAINING:
        return "training_in_inference", (f"{layer.path} ran in training mode in the inference call"
                                          + (": its dropout is active, so predictions are random" if layer.family == "dropout" else ""))
    return "training_in_inference", None


def _momentum(layer, profile):
    decay = layer.neutral().get("decay")
    if layer.family != "batchnorm" or not isinstance(decay, float) or decay >= DECAY_BELOW:
        return "momentum_convention", None
    native = ", ".join(f"{k}={v:.4g}" for k, v in next(s.native for s in layer.settings if s.word == "decay").items())
    weighs = "the batch" if profile.get("batchnorm.arguments.decay.map") == "one_minus" else "the old running value"
    return "momentum_convention", (f"{layer.path}: {native} weighs the old running value by {decay:.4g} "
                                   f"(here momentum weighs {weighs}), so the running statistics follow the last "
                                   f"batches; the other convention reads the same number as decay {1 - decay:.4g}")


def resolution(dtype: str) -> float:
    """The spacing of ``dtype`` at 1: a smaller eps vanishes next to a variance of 1."""
    return float(np.finfo(NUMPY[dtype]).eps)


def _eps(layer, profile):
    eps = layer.neutral().get("eps")
    if not isinstance(eps, float) or layer.dtype not in NUMPY or eps >= resolution(layer.dtype):
        return "eps_below_resolution", None
    return "eps_below_resolution", (f"{layer.path}: eps {eps:g} is below {layer.dtype}'s resolution at a variance of 1 "
                                    f"({resolution(layer.dtype):.3g}): var + eps rounds to var, so eps no longer "
                                    f"keeps a small variance away from zero")


def suggested_eps(dtype: str) -> float:
    """The power of ten at or above the dtype's resolution: 1e-3 for float16, 0.01 for bfloat16."""
    return 10.0 ** math.ceil(math.log10(resolution(dtype)))


def _tiny(layer, profile):
    call = layer.calls.get("step")
    if layer.family != "batchnorm" or _mode(layer, "step") != TRAINING or not call or not call.batch or call.batch >= TINY:
        return "tiny_batch", None
    what = "a batch of one: its batch statistics are one example's" if call.batch == 1 else \
        f"batches of {call.batch} examples (fewer than {TINY}): its batch statistics are noisy"
    return "tiny_batch", f"{layer.path} trains on {what} (if your real batch per replica is this small)"


def grouped(layers: list[Layer], profile, part) -> list[dict]:
    """The findings of every layer, one entry per hazard: its title, the layers with their sentences, and the fix
    (the framework part's ``FIXES[hazard]``, formatted with {path}: the layers' parent, {part}: the framework's
    expression for it, ``part.expression(path)``, and {setting}: the spelling that removes the hazard for the first
    layer, where the hazard has one)."""
    found = [f for layer in layers for f in findings(layer, profile)]
    by_path = {layer.path: layer for layer in layers}
    out = []
    for hazard, title in TITLES.items():
        these = [f for f in found if f.hazard == hazard]
        if these:
            path = _parent([f.path for f in these], part.SEPARATOR)
            fix = part.FIXES[hazard].format(path=path, part=part.expression(path),
                                            setting=_setting(hazard, by_path[these[0].path], profile))
            out.append({"hazard": hazard, "title": title, "layers": [{"path": f.path, "sentence": f.sentence} for f in these],
                        "fix": fix})
    return out


def _parent(paths: list[str], separator: str) -> str:
    """The layers' common parent by path parts ('backbone' for backbone.bn1 and backbone.layer1.0.bn1; 'base' for
    base.1 alone), '' (the model) where they share nothing."""
    shared = []
    for column in zip(*(p.split(separator)[:-1] for p in paths)):
        if len(set(column)) > 1:
            break
        shared.append(column[0])
    return separator.join(shared)


def _setting(hazard: str, layer: Layer, profile) -> str:
    """The argument that removes the hazard, spelt the framework's way by its profile."""
    neutral = layer.neutral()
    if hazard == "momentum_convention":
        change = {"decay": 1 - neutral["decay"]}
    elif hazard == "eps_below_resolution":
        change = {"eps": suggested_eps(layer.dtype)}
    else:
        return ""
    return ", ".join(f"{k}={v:.4g}" for k, v in profile.native(layer.family, **change).items())
