"""Each pass's mode, measured, and the layer's output against the float64 reference in that mode.

BatchNorm: the output is compared with the reference's training output (batch statistics) and its inference
output (running statistics); the one it matches is the mode, and the running statistics after a training call
are checked too. Where both or neither match, or the pass was traced (no arrays), the statistics tell: moved
is training. Dropout (element and channel): an output equal to the input is inference, anything else must be
x mask / (1 - rate) with the mask read from the output's zeros; scaled in inference instead (scaling 'inference',
paddle's downscale_in_infer), x (1 - rate) is inference and x mask training. Other layers, and where nothing else
tells: the training flag the call received. Tolerances: the output dtype's (specs/tolerances.yaml).
"""
import numpy as np

from layerconf.audit.records import INFERENCE, TRAINING, Call, Layer, Measured
from layerconf.compare import compare
from layerconf.reference import dropout
from layerconf.reference.models import BatchNorm, Conventions


def conventions(profile) -> Conventions:
    """The BatchNorm conventions the profile states (as the conformance tests read them)."""
    return Conventions(profile.get("batchnorm.running_var_correction") or "biased", profile.get("batchnorm.arguments_dtype"),
                       profile.get("batchnorm.update_weight_dtype"), profile.get("batchnorm.scalars_dtype"),
                       profile.get("batchnorm.training_statistics") or "batch")


def measured(layer: Layer, call: Call | None, profile) -> Measured:
    """The pass's mode and check for this layer's ``call`` (None: the pass never called it)."""
    if call is None:
        return Measured(None, note="not called in this pass")
    if layer.family == "batchnorm":
        return _batchnorm(layer, call, conventions(profile))
    if layer.family == "dropout" and layer.kind in ("element", "channel"):
        return _dropout(layer, call)
    return _flag(call, "no reference check for this layer in the audit yet")


def _flag(call: Call, note: str) -> Measured:
    return Measured(TRAINING if call.flag else INFERENCE, "flag", note=note)


def _check(comparisons) -> dict:
    """The worst of the comparisons, as the record keeps it."""
    worst = max(comparisons, key=lambda c: c.margin)
    return {"passed": all(c.passed for c in comparisons), "quantity": worst.quantity, "margin": worst.margin,
            "worst_error": worst.worst_error, "dtype": worst.dtype, "detail": worst.describe()}


def _moved(layer: Layer, call: Call) -> bool | None:
    """Whether the running statistics moved in the call (or, for a traced pass, in the step)."""
    if "running_mean" in call.before and "running_mean" in call.after:
        return any(not np.array_equal(call.before[k], call.after[k]) for k in ("running_mean", "running_var"))
    return layer.statistics_changed


def _batchnorm(layer: Layer, call: Call, conv: Conventions) -> Measured:
    settings, state = layer.neutral(), call.before
    has_running = "running_mean" in state
    moved = _moved(layer, call)
    if call.x is None or call.y is None or layer.layout is None or "running_mean" not in state and not _stateless(layer):
        if moved is None:
            return _flag(call, "traced pass and no running statistics: the mode is the call's flag")
        return Measured(TRAINING if moved else INFERENCE, "statistics", note="no arrays from this pass (traced or layout "
                                                                              "outside the reference): no output check")
    channels = call.x.shape[1 if layer.layout.startswith("NC") else -1]
    ones, zeros = np.ones(channels), np.zeros(channels)

    def model():
        bn = BatchNorm(settings["eps"], settings.get("decay"), layer.layout, conv,
                       gamma=state.get("gamma", ones), beta=state.get("beta", zeros),
                       running_mean=state.get("running_mean"), running_var=state.get("running_var"))
        bn.batches_seen = int(state.get("batches", 0))
        return bn

    trained = compare("output", call.y, model().output(call.x, True), call.dtype)
    inferred = compare("output", call.y, model().output(call.x, False), call.dtype) if has_running else trained
    if trained.passed != inferred.passed:
        mode, how = (TRAINING if trained.passed else INFERENCE), "output"
    elif moved is not None:
        mode, how = (TRAINING if moved else INFERENCE), "statistics"
    else:
        mode, how = (TRAINING if call.flag else INFERENCE), "flag"
    checks = [trained if mode == TRAINING else inferred]
    if mode == TRAINING and has_running and "running_mean" in call.after:
        bn = model()
        bn.update(call.x)
        checks += [compare(key, call.after[key], getattr(bn, key), call.dtype) for key in ("running_mean", "running_var")]
    return Measured(mode, how, _check(checks))


def _stateless(layer: Layer) -> bool:
    """A BatchNorm without running statistics (torch track_running_stats=False): batch statistics in both modes."""
    return layer.neutral().get("running_stats") is False


def _dropout(layer: Layer, call: Call) -> Measured:
    settings = layer.neutral()
    rate = settings.get("rate")
    if call.x is None or call.y is None or rate is None:
        return _flag(call, "no arrays from this pass (traced): the mode is the call's flag")
    if settings.get("scaling") == "inference":
        return _downscaled(call, rate)
    if np.array_equal(call.x, call.y):
        if rate == 0:
            return _flag(call, "rate 0: the same output in both modes")
        return Measured(INFERENCE, "output", _check([compare("output", call.y, call.x, call.dtype)]))
    keep = call.y != 0
    return Measured(TRAINING, "output", _check([compare("output", call.y, dropout.output(call.x, keep, rate), call.dtype)]))


def _downscaled(call: Call, rate: float) -> Measured:
    """Dropout scaled in inference (paddle's mode='downscale_in_infer'): x (1 - rate) in inference, x mask in training."""
    if rate == 0:
        return _flag(call, "rate 0: the same output in both modes")
    inferred = compare("output", call.y, call.x * (1.0 - rate), call.dtype)
    if inferred.passed:
        return Measured(INFERENCE, "output", _check([inferred]))
    return Measured(TRAINING, "output", _check([compare("output", call.y, call.x * (call.y != 0), call.dtype)]))
