"""The behaviour families a repro generator covers: each function draws the check's inputs as its conformance test
does (the same generator calls, in the same order, from the check's seed) and returns the template's context: the
arrays to embed (``inputs``), and the layer's arguments spelt the framework's way by the flavour's profile.

``GENERATORS``: behaviour id -> (family, the frameworks with a template for it: templates/<family>.<framework>.j2).
"""
import hypothesis
import numpy as np

from layerconf.conformance import draw
from layerconf.reference import batchnorm
from layerconf.reference import statistics as stats
from layerconf.reference.dtypes import parameter_dtype, quantize
from layerconf.reference.layout import channel_axis, channel_shape, reduction_axes, shape_of
from layerconf.reference.training_flag import TrainingFlag

EPS, DECAY = 2.0**-10, 0.75   # the BatchNorm tests' eps and decay where they are not under test (conformance.helpers)


def invalid_argument(rng, behaviour, params, profile) -> dict:
    """bn.error.eps / bn.error.momentum: a BatchNorm built with eps=-1 / decay=1.5, a training call on ones (4, 3);
    do.error.rate: a Dropout built with the invalid rate, a training call on drawn values (4, 4)."""
    if behaviour.id == "do.error.rate":
        native = profile.native("dropout", rate=params["rate"])
        return {"section": "dropout", "native": native, "word": str(params["rate"]), "dtype": "float32",
                "opset": profile.get("dropout.opset"),
                "cls": profile.layer_class("dropout", "element"), "inputs": {"X": draw.nonzero(rng, (4, 4))}}
    word, value = ("eps", -1.0) if behaviour.id == "bn.error.eps" else ("decay", 1.5)
    native = profile.native("batchnorm", **{word: value})
    layout = params["layout"]
    return {"section": "batchnorm", "native": native, "word": next(iter(native)), "dtype": "float32",
            "opset": profile.get("batchnorm.opset"),
            "cls": profile.layer_class("batchnorm", layout=layout), "layout": layout,
            "arguments": {**profile.get("batchnorm.layout_arguments", {}).get(layout, {}), **native},
            "inputs": {"X": np.ones(shape_of(layout, 4, 3, 2))}}


def dropout_values(rng, behaviour, params, profile) -> dict:
    """do.train.values and do.mask.output (a training call on (64, 64) drawn values), do.grad (the gradient of
    sum(dy * y), (32, 64)), do.downscale.eval and do.eval.identity (an inference call, (16, 32) values in
    [0, 100])."""
    dtype, rate = params["dtype"], params["rate"]
    inference = ((16, 32), 0.0, 100.0)
    shape, low, high = {"do.grad": ((32, 64), 0.5, 2.0), "do.downscale.eval": inference,
                        "do.eval.identity": inference}.get(behaviour.id, ((64, 64), 0.5, 2.0))
    arrays = {"X": draw.nonzero(rng, shape, dtype, low, high)}
    if behaviour.id == "do.grad":
        arrays["DY"] = quantize(rng.standard_normal(shape), dtype)
    neutral = {"rate": rate, **({"scaling": "inference"} if behaviour.id == "do.downscale.eval" else {})}
    return {"native": profile.native("dropout", **neutral), "dtype": dtype, "rate": rate, "inputs": arrays,
            "cls": profile.layer_class("dropout", "element"), "opset": profile.get("dropout.opset")}


def alpha_channels(rng, behaviour, params, profile) -> dict:
    """do.alpha.channels: channel-wise alpha dropout, a training call on values in [0.5, 2] of the layout's shape
    (8, 6, 4...)."""
    layout, rate = params["layout"], params["rate"]
    return {"cls": profile.layer_class("dropout", "channel_alpha", layout), "native": profile.native("dropout", rate=rate),
            "rate": rate, "layout": layout, "axis": channel_axis(layout), "dtype": "float32",
            "inputs": {"X": quantize(rng.uniform(0.5, 2, shape_of(layout, 8, 6, 4)), "float32")}}


def rrelu_values(rng, behaviour, params, profile) -> dict:
    """rrelu.train.values: a training call on (64, 64) drawn values."""
    return {"cls": profile.get("rrelu.class"), "native": profile.native("rrelu", lower=params["lower"], upper=params["upper"]),
            "lower": params["lower"], "upper": params["upper"], "dtype": params["dtype"],
            "inputs": {"X": draw.nonzero(rng, (64, 64), params["dtype"])}}


def alpha_kernel(rng, behaviour, params, profile) -> dict:
    """do.kernel.alpha.values: alpha dropout through a kernel other than the default (in place), a training call on
    values in [0.5, 2] of the layout's shape (8, 6, 4...)."""
    kernel = profile.get(f"dropout.kernels.{params['kernel']}")
    return {"cls": profile.layer_class("dropout", params["kind"], params["layout"]), "rate": params["rate"],
            "native": {**profile.native("dropout", rate=params["rate"]), **kernel.get("arguments", {})},
            "writes_input": bool(kernel.get("writes_input")), "dtype": params["dtype"],
            "inputs": {"X": quantize(rng.uniform(0.5, 2, shape_of(params["layout"], 8, 6, 4)), params["dtype"])}}


def batch_size_one(rng, behaviour, params, profile) -> dict:
    """bn.batch_size_one: a training call on a batch of one (1, 3), gamma and beta drawn."""
    x = draw.batch(rng, params["layout"], params["dtype"], 1, 3, 1)
    gamma, beta = draw.affine(rng, 3, params["dtype"])
    return {"cls": profile.layer_class("batchnorm", layout=params["layout"]), "eps": EPS, "dtype": params["dtype"],
            "convention": profile.get("batchnorm.batch_size_one"),
            "native": {**profile.get("batchnorm.layout_arguments", {}).get(params["layout"], {}),
                       **profile.native("batchnorm", eps=EPS, decay=DECAY)},
            "inputs": {"X": x, "GAMMA": gamma, "BETA": beta}}


def spatial_round_trip(rng, behaviour, params, profile) -> dict:
    """bn.spatial.round_trip: a per-activation (spatial=0) BatchNormalization holding drawn gamma, beta and running
    statistics of shape (C, D1, ..., Dn), trained on a batch of 4 (the check's first training step)."""
    shape = shape_of(params["layout"], 1, 3, 3)[1:]
    size = int(np.prod(shape))
    (gamma, beta), (mean, var) = draw.affine(rng, size, params["dtype"]), draw.running(rng, size, params["dtype"])
    x = draw.batch(rng, "NC", params["dtype"], 4, size).reshape(4, *shape)
    native = profile.native("batchnorm", eps=EPS, decay=DECAY, statistics="per_activation")
    return {"native": native, "opset": params["opset"], "dtype": params["dtype"], "eps": EPS, "shape": list(shape),
            "inputs": {"X": x, "GAMMA": gamma.reshape(shape), "BETA": beta.reshape(shape), "MEAN": mean.reshape(shape),
                       "VAR": var.reshape(shape)}}


def running_outputs(rng, behaviour, params, profile) -> dict:
    """bn.outputs.running: a fresh training BatchNormalization of the case's opset whose running outputs take the
    case's form, run twice on one batch of 4 (the layout's shape, 3 channels)."""
    native = profile.native("batchnorm", eps=EPS, decay=DECAY, opset=params["opset"], outputs=params["outputs"])
    return {"native": {k: native[k] for k in ("epsilon", "momentum")}, "opset": params["opset"],
            "outputs": params["outputs"], "layout": params["layout"], "dtype": params["dtype"], "eps": EPS,
            "axes": reduction_axes(params["layout"]),
            "shape": ["N" if a == "N" else 3 if a == "C" else f"{a}_size" for a in params["layout"]],
            "inputs": {"X": draw.batch(rng, params["layout"], params["dtype"], 4, 3, 3)}}


def opset_inference(rng, behaviour, params, profile) -> dict:
    """do.opset.inference: a Dropout node of the case's opset (ratio 0.2) with no training input, its mask in the
    case's form, run on (64, 64) drawn values."""
    native = profile.native("dropout", rate=0.2, opset=params["opset"], outputs=params["outputs"], training_input="absent")
    return {"ratio": native["ratio"], "opset": params["opset"], "outputs": params["outputs"], "dtype": params["dtype"],
            "inputs": {"X": draw.nonzero(rng, (64, 64), params["dtype"])}}


def mode_round_trip(rng, behaviour, params, profile) -> dict:
    """bn.mode.round_trip: a BatchNorm holding drawn gamma, beta and running statistics, a training step on a batch
    of 4 (X1), then an inference call on a batch of 5 (X2); the check's third batch comes after the finding."""
    layout, dtype = params["layout"], params["dtype"]
    (gamma, beta), (mean, var) = draw.affine(rng, 3, dtype), draw.running(rng, 3, dtype)
    x1, x2 = (draw.batch(rng, layout, dtype, n, 3, 3) for n in (4, 5))
    return {"native": profile.native("batchnorm", eps=EPS, decay=DECAY), "eps": EPS, "decay": DECAY, "dtype": dtype,
            "axes": reduction_axes(layout), "channel_shape": list(channel_shape(layout, 3)),
            "inputs": {"GAMMA": gamma, "BETA": beta, "MEAN": mean, "VAR": var, "X1": x1, "X2": x2}}


def nested_state(rng, behaviour, params, profile) -> dict:
    """models.state.running (``steps`` training calls of the nested model, then 2 inference calls) and
    models.state.save_load (2 training calls, a save and load, an inference call of the reloaded model): the model's
    drawn state (4 features under a Dense(1) head), batches of 16 (each with its target, drawn and unused here)."""
    state = draw.head_model(rng, 4)

    def batches(n):
        out = []
        for _ in range(n):
            out.append(draw.batch(rng, "NC", "float32", 16, 4))
            quantize(rng.standard_normal((16, 1)), "float32")   # the target the check draws with each batch
        return np.stack(out)
    train = batches(params.get("steps", 2))
    inference = batches(2 if behaviour.id == "models.state.running" else 1)
    return {"batchnorm": profile.native("batchnorm", eps=EPS, decay=DECAY), "dropout": profile.native("dropout", rate=0.5),
            "eps": EPS, "decay": DECAY, "kind": params["kind"], "dtype": params["dtype"],
            "inputs": {**{k.upper(): v for k, v in state.items()}, "TRAIN": train, "INFERENCE": inference}}


def replicas_same_state(rng, behaviour, params, profile) -> dict:
    """replicas.bn.sync.same_state: synchronized replicas holding drawn gamma, beta and running statistics, ``steps``
    training steps on parts of one global batch each (examples per replica: the split's), then an inference call."""
    layout, dtype, steps = params["layout"], params["dtype"], params["steps"]
    counts = {"equal": (4, 4, 4), "unequal": (2, 5, 3)}[params["split"]][: params["replicas"]]
    (gamma, beta), (mean, var) = draw.affine(rng, 3, dtype), draw.running(rng, 3, dtype)

    def parts():
        whole = draw.batch(rng, layout, "float64", sum(counts), 3, 3)
        return np.stack([quantize(p, dtype) for p in np.split(whole, np.cumsum(counts)[:-1])])
    train = np.stack([parts() for _ in range(steps)])
    return {"native": profile.native("batchnorm", eps=EPS, decay=DECAY), "eps": EPS, "decay": DECAY, "dtype": dtype,
            "replicas": params["replicas"], "steps": steps, "axes": reduction_axes(layout),
            "channel_shape": list(channel_shape(layout, 3)),
            "inputs": {"GAMMA": gamma, "BETA": beta, "MEAN": mean, "VAR": var, "TRAIN": train, "INFERENCE": parts()}}


def channel_mismatch(rng, behaviour, params, profile) -> dict:
    """replicas.bn.sync.channel_mismatch: rank 0's part has 3 channels, rank 1's 4 (4 examples each, drawn as the
    check's parts), every rank's synchronized BatchNorm built for 3."""
    layout, dtype = params["layout"], params.get("dtype", "float32")
    x0, x1 = (quantize(draw.batch(rng, layout, "float64", 4, c, 3), dtype) for c in (3, 4))
    return {"native": profile.native("batchnorm", eps=EPS, decay=DECAY), "dtype": dtype, "inputs": {"X0": x0, "X1": x1}}


def dropout_masks(rng, behaviour, params, profile) -> dict:
    """replicas.dropout.masks: one Dropout per rank, each on its own (200, 100) drawn part; seeding per_replica: the
    drawn seed + rank in each rank (unseeded: none). The masks' property only: the drop-rate test over the union is
    the suite's."""
    n, seeded = params["replicas"], params["seeding"] != "unseeded"
    seed = int(rng.integers(2**31 - n)) if seeded else None
    return {"cls": profile.get("replicas.dropout.class"), "native": profile.native("dropout", rate=params["rate"]),
            "masks": "distinct" if seeded else profile.get("replicas.dropout.unseeded"), "seed_base": seed,
            "inputs": {"XS": np.stack([draw.nonzero(rng, (200, 100), "float32") for _ in range(n)])}}


def examples(test, seed: int, accept) -> list[dict]:
    """The examples hypothesis draws for the @given conformance test ``test`` seeded as the plugin seeds it
    (hypothesis.seed(seed), the test's own settings and strategies) that ``accept`` (the test's assume) takes, in
    the order the test receives them (every example passing, as under a declared deviation's soft check)."""
    found = []

    @hypothesis.seed(seed)
    @test._hypothesis_internal_use_settings
    @hypothesis.given(**test.hypothesis._given_kwargs)
    def record(**drawn):
        hypothesis.assume(accept(**drawn))
        found.append(drawn)

    record()
    return found


def batchnorm_training(rng, behaviour, params, profile) -> dict:
    """A training call of a BatchNormalization holding drawn gamma and beta: bn.train.output on the first example
    hypothesis draws for the check (its shape from the test's SHAPES, its values from their own generator),
    bn.train.offset_data on 1e4 + a drawn (8, 3, 4, 4) batch, bn.renorm.train_output with renorm on a (5, 3, 2, 2)
    batch, holding drawn moving and renorm statistics (the check's first layer, renorm_clipping={})."""
    from layerconf.conformance import test_batchnorm, test_batchnorm_keras, test_batchnorm_numerics

    layout, dtype = params["layout"], params["dtype"]
    native, channels = profile.native("batchnorm", eps=EPS, decay=DECAY), 3
    arrays, renorm = {}, {}
    if behaviour.id == "bn.train.output":
        def moderate(shape, values):   # the test's assume: |mean_B| <= 4 sd_B
            mean, var = batchnorm.batch_moments(draw.batch(np.random.default_rng(values), layout, dtype, *shape), layout)
            return bool(np.all(mean**2 <= 16 * var))
        example = examples(test_batchnorm.test_train_output, rng.bit_generator.seed_seq.entropy, moderate)[0]
        (n, channels, s), rng = example["shape"], np.random.default_rng(example["values"])
        arrays["X"] = draw.batch(rng, layout, dtype, n, channels, s)
    elif behaviour.id == "bn.train.offset_data":
        arrays["X"] = quantize(test_batchnorm_numerics.OFFSET + draw.batch(rng, layout, dtype, 8, 3, 4), dtype)
    else:
        renorm = {"renorm_decay": test_batchnorm_keras.RENORM_DECAY, "clipping": dict(test_batchnorm_keras.CLIPPINGS[0])}
        native |= profile.native("batchnorm_keras", renorm=True, **renorm)
    arrays["GAMMA"], arrays["BETA"] = draw.affine(rng, channels, dtype)
    if renorm:   # test_batchnorm_keras.renorm_pair's draws, then the batch
        p = parameter_dtype(dtype)
        arrays["MOVING_MEAN"], arrays["MOVING_VARIANCE"] = draw.running(rng, channels, dtype)
        arrays["RENORM_MEAN"], renorm_var = draw.running(rng, channels, dtype)
        arrays["RENORM_STDDEV"] = quantize(np.sqrt(renorm_var), p)
        arrays["MOVING_STDDEV"] = quantize(rng.uniform(0.7, 1.7, channels), p)
        arrays = {"X": draw.batch(rng, layout, dtype, 5, channels, 2), **arrays}
    axis = channel_axis(layout)
    return {"layout": layout, "dtype": dtype, "eps": EPS, "renorm": renorm, "axis": axis,
            "arguments": {**profile.get("batchnorm.layout_arguments", {}).get(layout, {}), **native},
            "build": tuple(channels if a == axis else None for a in range(len(layout))), "inputs": arrays,
            "variables": [name.lower() for name in arrays if name != "X"]}


def fit_flag(rng, behaviour, params, profile) -> dict:
    """The training-flag model of test_training_flag (inputs -> base model holding one BatchNormalization, called
    with the case's training flag -> Dense(1) head; mse, SGD), its state and batches drawn as the test draws them:
    flag.bn.train_step, one step by the case's method with the BatchNormalization's trainable set; the fine-tuning
    recipe, a step with the base frozen, then one with it unfrozen. The mode each step runs in is the profile's
    documented rule (reference.training_flag)."""
    from layerconf.conformance import test_training_flag as test

    state = draw.head_model(rng, test.C)
    arrays = {key.upper(): value for key, value in state.items()}
    arrays["X"], arrays["T"] = test.batch(rng)
    rule, recipe = TrainingFlag.of(profile), behaviour.id == "flag.fine_tuning.recipe"
    base_training = False if recipe else params["training"]   # the recipe calls the base with training=False
    if recipe:   # phase 1 with the base frozen; phase 2 unfrozen, on a second batch
        arrays["X2"], arrays["T2"] = test.batch(rng)
        steps = [("base", False, rule.training("fit", base_training, False), "X", "T"),
                 ("base", True, rule.training("fit", base_training), "X2", "T2")]
    else:
        steps = [("bn", params["trainable"], rule.training("fit", base_training, params["trainable"]), "X", "T")]
    return {"native": profile.native("batchnorm", eps=test.EPS, decay=test.DECAY), "eps": test.EPS, "decay": test.DECAY,
            "lr": test.LR, "base_training": base_training, "method": params["method"], "steps": steps, "inputs": arrays}


def augmentation(rng, behaviour, params, profile) -> dict:
    """aug.eval.crop: RandomCrop(8, 8) in inference on two drawn (12, 16, 3) images; aug.contrast.factor:
    RandomContrast(0.5) in training on the first 64 of the check's 512 drawn (8, 8, 3) images (the embedded script
    stays small; 64 draws decide as 512 do), the factor's KS region at n = 64 computed here as the suite does."""
    from layerconf.conformance import test_augmentation as test

    kind = "crop" if behaviour.id == "aug.eval.crop" else "contrast"
    neutral = dict(test.ARGUMENTS[kind])
    context = {"cls": profile.layer_class("augmentation", kind), "native": profile.native("augmentation", **neutral),
               "neutral": neutral}
    if kind == "crop":
        return {**context, "inputs": {"X": rng.uniform(0, 255, (2, 12, 16, 3)).astype(np.float32)}}
    images = test.images(rng, test.IMAGES, channels=3).astype(np.float32)[:64]
    lower = 1.0 if profile.get("augmentation.contrast_range") == "upper_only" else 1 - neutral["factor"]
    return {**context, "lower": lower, "upper": 1 + neutral["factor"], "ks_limit": stats.ks_region(len(images)).hi,
            "false_alarm": stats.FALSE_ALARM, "inputs": {"X": images}}


def recurrent_values(rng, behaviour, params, profile) -> dict:
    """recurrent.eval.values: a layer with dropout at every site the profile offers, drawn weights, two inference calls
    on a drawn (8, 6, 16) batch; recurrent.inputs.values: input dropout, the probe weights (unit j reads feature j,
    through the candidate gate only) and a training call on (32, 6, 16) values in [0.5, 1.5], the mask read back
    from the output (test_recurrent.decode)."""
    from layerconf.conformance import test_recurrent as test

    cell, dtype = params["cell"], params["dtype"]
    if behaviour.id == "recurrent.eval.values":
        weights = test.random_weights(rng, cell, dtype)
        native = profile.native("recurrent", **{site: 0.5 for site in profile.get("recurrent.arguments")})
        x = quantize(rng.standard_normal((8, 6, test.UNITS)), dtype)
    else:
        weights = test.probe(cell, "inputs")
        native = profile.native("recurrent", inputs=params["rate"])
        x = test.probe_input(rng, "inputs", 32, 6, dtype)
    return {"cell": cell, "dtype": dtype, "cls": profile.layer_class("recurrent", cell), "native": native,
            "units": test.UNITS, "rate": params.get("rate"), "gates": profile.get("recurrent.gates", {}).get(cell),
            "inputs": {"X": x, **{key.upper(): value for key, value in weights.items()}}}


GENERATORS = {
    "bn.error.eps": (invalid_argument, {"torch", "keras", "onnxruntime", "equinox", "paddle"}),
    "bn.error.momentum": (invalid_argument, {"torch", "keras", "onnxruntime", "equinox", "paddle"}),
    "do.error.rate": (invalid_argument, {"onnxruntime", "equinox", "paddle"}),
    "do.train.values": (dropout_values, {"onnxruntime", "paddle"}),
    "do.mask.output": (dropout_values, {"onnxruntime"}),
    "do.grad": (dropout_values, {"paddle"}),
    "do.downscale.eval": (dropout_values, {"paddle"}),
    "do.eval.identity": (dropout_values, {"paddle"}),
    "do.alpha.channels": (alpha_channels, {"paddle"}),
    "rrelu.train.values": (rrelu_values, {"torch"}),
    "do.kernel.alpha.values": (alpha_kernel, {"torch"}),
    "bn.batch_size_one": (batch_size_one, {"paddle"}),
    "bn.spatial.round_trip": (spatial_round_trip, {"onnxruntime"}),
    "bn.outputs.running": (running_outputs, {"onnxruntime"}),
    "do.opset.inference": (opset_inference, {"onnxruntime"}),
    "bn.mode.round_trip": (mode_round_trip, {"equinox"}),
    "models.state.running": (nested_state, {"equinox"}),
    "models.state.save_load": (nested_state, {"equinox"}),
    "replicas.bn.sync.same_state": (replicas_same_state, {"equinox"}),
    "replicas.bn.sync.channel_mismatch": (channel_mismatch, {"torch"}),
    "replicas.dropout.masks": (dropout_masks, {"torch"}),
    "bn.train.output": (batchnorm_training, {"keras"}),
    "bn.train.offset_data": (batchnorm_training, {"keras"}),
    "bn.renorm.train_output": (batchnorm_training, {"keras"}),
    "flag.bn.train_step": (fit_flag, {"keras"}),
    "flag.fine_tuning.recipe": (fit_flag, {"keras"}),
    "aug.eval.crop": (augmentation, {"keras"}),
    "aug.contrast.factor": (augmentation, {"keras"}),
    "recurrent.eval.values": (recurrent_values, {"keras"}),
    "recurrent.inputs.values": (recurrent_values, {"keras"}),
}
