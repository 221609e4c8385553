"""Random image augmentation conformance (Keras Random* layers): inference is the identity (RandomCrop: the centred
window resized), training draws its parameter per image (or per call, as the profile says) with the documented
distribution. Images are channels last, float32; every statistical check has false alarm <= 1e-6 (split between its
statistics) and records its power.
"""
import numpy as np
import pytest

from layerconf.reference import augmentation as ref
from layerconf.reference import statistics as stats

from .layers import make_layer

behaviour = pytest.mark.behaviour
IMAGES = 512    # images per KS test: D_512 > 0.12 rejects at 1e-6; power 1 against a range halved (recorded)
CALLS = 200     # calls of a layer that draws once per call: D_200 > 0.19 rejects; the same power
SIZE = 16       # ramp images: the transforms' largest excursion keeps pixel (C, C) and its neighbours interior
C = SIZE // 2
ARGUMENTS = {   # neutral arguments of each kind in the checks below
    "flip": {"mode": "horizontal"},
    "brightness": {"factor": 0.2, "value_range": (0.0, 255.0)},
    "contrast": {"factor": 0.5},
    "translation": {"height_factor": 0.25, "width_factor": 0.25, "fill_mode": "constant", "interpolation": "bilinear"},
    "zoom": {"height_factor": 0.3, "fill_mode": "constant", "interpolation": "bilinear"},
    "rotation": {"factor": 0.1, "fill_mode": "constant", "interpolation": "bilinear"},
    "crop": {"height": 8, "width": 8},
}


def build(adapter, profile, kind, **neutral):
    return make_layer(adapter, profile, "augmentation", "float32", kind=kind, **{**ARGUMENTS[kind], **neutral})


def images(rng, n, size=8, channels=1, lo=100.0, hi=155.0):
    """n distinct float32 images with values in [lo, hi]."""
    return rng.uniform(lo, hi, (n, size, size, channels)).astype(np.float32).astype(np.float64)


def per_call(profile, kind) -> bool:
    return profile.get(f"augmentation.draws.{kind}", "per_image") == "per_batch"


def drawn(layer, x_of, recover, batch):
    """The recovered parameters of ``IMAGES`` images in one call (batch False) or of ``CALLS`` calls of two images
    (batch True: one draw per call; the rows of a call must agree): (values, output, input, one_per_call)."""
    calls, n = (CALLS, 2) if batch else (1, IMAGES)
    runs = [(x, layer.forward(x, training=True)) for x in (x_of(n) for _ in range(calls))]
    params = [recover(np.asarray(y, dtype=np.float64), x) for x, y in runs]
    shared = all(np.allclose(p, p[:1], atol=1e-4) for p in params)
    values = np.concatenate([p[:1] if batch else p for p in params])
    return values, runs, shared


def ks_check(check, name, sample, lo, hi, parts=1):
    """KS test of ``sample`` against U[lo, hi], power against the range halved and shifted by 10%."""
    half, shift = (hi - lo) / 4, (hi - lo) / 10
    check.uniform(name, sample, lo, hi, {"range_halved": (lo + half, hi - half), "shifted_10pct": (lo + shift, hi + shift)},
                  f"(n = {len(sample)}, U[{lo:.4g}, {hi:.4g}])", parts)


def image_rate(check, name, k, n, p, parts, shift=0.05):
    """check.rate of k of n images, power against p -/+ shift, in this module's wording."""
    check.rate(name, k, n, p, stats.shifted(p, shift, "p"), parts, detail=f"(n = {n}, p = {p:.4g}, observed {k / n:.4f})")


@behaviour("aug.eval.identity")
def test_eval_identity(case, adapter, profile, check, rng):
    x = images(rng, 4, channels=3, lo=0.0, hi=255.0)
    check.equal("y", build(adapter, profile, case["kind"]).forward(x, training=False), x.astype(np.float32))


@behaviour("aug.eval.crop")
def test_eval_crop(case, adapter, profile, check, rng):
    x = rng.uniform(0, 255, (2, 12, 16, 3)).astype(np.float32).astype(np.float64)
    y = np.asarray(build(adapter, profile, "crop").forward(x, training=False), dtype=np.float64)
    resized = ref.center_crop_resize(x, 8, 8)
    seen = "identity" if y.shape == x.shape and np.array_equal(y, x) else "center_crop_resize" \
        if y.shape == resized.shape and np.allclose(y, resized, atol=1e-3) else "other"
    check.observe("augmentation_crop_inference", seen)
    check.close("y", y, x if profile.get("augmentation.crop_inference") == "identity" else resized, dtype="float32")


@behaviour("aug.direct_call")
def test_direct_call(case, adapter, profile, check, rng):
    x = images(rng, 64, size=SIZE, channels=2)
    y = np.asarray(build(adapter, profile, case["kind"]).forward(x, training=None), dtype=np.float64)
    seen = "inference" if np.array_equal(y, x) else "training"
    check.observe("augmentation_direct_call", seen)
    expected = profile.get("augmentation.direct_call")
    check.true("direct call", seen == expected, f"layer(x) without training acts as in {seen}, the profile says {expected} "
               "(64 images: an augmenting call leaves them all unchanged with probability <= 2^-64)")


def _flips(x, y):
    """Per image: 'none', 'horizontal', 'vertical', 'both' (y equals x so mirrored) or 'other'."""
    forms = {"none": x, "horizontal": ref.flip(x, "horizontal"), "vertical": ref.flip(x, "vertical"),
             "both": ref.flip(ref.flip(x, "horizontal"), "vertical")}
    return np.array([next((k for k, f in forms.items() if np.array_equal(y[i], f[i])), "other") for i in range(len(x))])


@behaviour("aug.flip.probability")
def test_flip_probability(case, adapter, profile, check, rng):
    x = images(rng, 1024, size=4)
    for mode in ("horizontal", "vertical"):
        seen = _flips(x, np.asarray(build(adapter, profile, "flip", mode=mode).forward(x, training=True), np.float64))
        check.true(f"{mode} forms", np.isin(seen, ["none", mode]).all(), f"{mode}: images became {sorted(set(seen))}")
        image_rate(check, f"{mode} flips", int(np.count_nonzero(seen == mode)), len(x), 0.5, parts=2)


@behaviour("aug.flip.both")
def test_flip_both(case, adapter, profile, check, rng):
    x = images(rng, 1024, size=4)
    seen = _flips(x, np.asarray(build(adapter, profile, "flip", mode="horizontal_and_vertical").forward(x, training=True), np.float64))
    check.true("forms", (seen != "other").all(), "some image is neither the input nor a mirror of it")
    h, v = np.isin(seen, ["horizontal", "both"]), np.isin(seen, ["vertical", "both"])
    check.observe("augmentation_flip_both", "joint" if (h == v).all() else "independent")
    image_rate(check, "horizontal flips", int(h.sum()), len(x), 0.5, parts=3)
    image_rate(check, "vertical flips", int(v.sum()), len(x), 0.5, parts=3)
    agree = 1.0 if profile.get("augmentation.flip_both") == "joint" else 0.5
    image_rate(check, "images flipped on both axes or neither", int((h == v).sum()), len(x), agree, parts=3)


@behaviour("aug.brightness.delta")
def test_brightness_delta(case, adapter, profile, check, rng):
    f, (lo, hi) = ARGUMENTS["brightness"]["factor"], ARGUMENTS["brightness"]["value_range"]

    def x_of(n):
        x = images(rng, n)
        x[:, 0, 0], x[:, 0, 1] = lo, hi   # clipped by any delta of the matching sign
        return x
    values, runs, _ = drawn(build(adapter, profile, "brightness"), x_of, lambda y, x: y[:, 4, 4, 0] - x[:, 4, 4, 0], False)
    (x, y), = runs
    check.close("y", y, ref.brightness(x, values, (lo, hi)), dtype="float32")
    ks_check(check, "KS distance of the deltas", values, -f * (hi - lo), f * (hi - lo))


def _contrast_factors(y, x):
    """Least-squares c per image and channel of y - m = c (x - m)."""
    d = x - x.mean(axis=(1, 2), keepdims=True)
    return ((y - y.mean(axis=(1, 2), keepdims=True)) * d).sum(axis=(1, 2)) / (d * d).sum(axis=(1, 2))


@behaviour("aug.contrast.factor")
def test_contrast_factor(case, adapter, profile, check, rng):
    f, batch = ARGUMENTS["contrast"]["factor"], per_call(profile, "contrast")
    values, runs, shared = drawn(build(adapter, profile, "contrast"), lambda n: images(rng, n, channels=3),
                                 _contrast_factors, batch)
    check.observe("augmentation_contrast_draws", "per_batch" if shared else "per_image")
    check.true("draws", shared == batch, f"the contrast factor is drawn {'per call' if shared else 'per image'}, the "
               f"profile says {profile.get('augmentation.draws.contrast', 'per_image')}")
    check.true("channels", np.allclose(values, values[:, :1], atol=1e-4), "the channels of an image got different factors")
    for x, y in runs[:4]:
        check.close("y", y, ref.contrast(x, _contrast_factors(np.asarray(y, np.float64), x)[:, 0], (0, 255)), dtype="float32")
    lower = 1.0 if profile.get("augmentation.contrast_range") == "upper_only" else 1 - f
    ks_check(check, "KS distance of the factors", values[:, 0], lower, 1 + f)


def _ramp_run(adapter, profile, kind):
    x = ref.ramp(IMAGES, SIZE)
    y = np.asarray(build(adapter, profile, kind).forward(x, training=True), dtype=np.float64)
    return ref.ramp_gradients(y, C)


@behaviour("aug.translation.shift")
def test_translation_shift(case, adapter, profile, check, rng):
    value, d_col, d_row = _ramp_run(adapter, profile, "translation")
    check.close("gradients", np.stack([d_col, d_row], 1), np.broadcast_to(np.eye(2), (IMAGES, 2, 2)), dtype="float32")
    for axis, ch, f in (("width", 0, ARGUMENTS["translation"]["width_factor"]), ("height", 1, ARGUMENTS["translation"]["height_factor"])):
        ks_check(check, f"KS distance of the {axis} shifts", C - value[:, ch], -f * SIZE, f * SIZE, parts=2)


@behaviour("aug.zoom.factor")
def test_zoom_factor(case, adapter, profile, check, rng):
    _, d_col, d_row = _ramp_run(adapter, profile, "zoom")
    check.close("width zoom", d_col[:, 0], d_row[:, 1], dtype="float32")   # width_factor None: the height's zoom
    check.close("off-diagonal", np.stack([d_col[:, 1], d_row[:, 0]]), np.zeros((2, IMAGES)), dtype="float32")
    f = ARGUMENTS["zoom"]["height_factor"]
    ks_check(check, "KS distance of the zooms", d_row[:, 1] - 1, -f, f)


@behaviour("aug.rotation.angle")
def test_rotation_angle(case, adapter, profile, check, rng):
    _, d_col, _ = _ramp_run(adapter, profile, "rotation")
    check.close("rotation", np.hypot(d_col[:, 0], d_col[:, 1]), np.ones(IMAGES), dtype="float32")
    f = ARGUMENTS["rotation"]["factor"]
    ks_check(check, "KS distance of the angles", np.arctan2(d_col[:, 1], d_col[:, 0]), -2 * np.pi * f, 2 * np.pi * f)


@behaviour("aug.crop.offset")
def test_crop_offset(case, adapter, profile, check, rng):
    h, w, size = ARGUMENTS["crop"]["height"], ARGUMENTS["crop"]["width"], 12
    batch = per_call(profile, "crop")
    values, runs, shared = drawn(build(adapter, profile, "crop"), lambda n: ref.ramp(n, size),
                                 lambda y, x: y[:, 0, 0, ::-1], batch)
    check.true("draws", shared == batch, f"the crop window is drawn {'per call' if shared else 'per image'}, the profile "
               f"says {profile.get('augmentation.draws.crop', 'per_image')}")
    for x, y in runs[:4]:
        a, b = (int(v) for v in np.asarray(y, np.float64)[0, 0, 0, ::-1])
        check.equal("window", y, x[:, a:a + h, b:b + w].astype(np.float32))
    for axis, offsets, span in (("row", values[:, 0], size - h), ("column", values[:, 1], size - w)):
        check.true(f"{axis} offsets", ((offsets >= 0) & (offsets <= span)).all(), f"{axis} offsets outside 0..{span}")
        image_rate(check, f"{axis} offsets <= 1", int((offsets <= 1).sum()), len(offsets), 2 / (span + 1), parts=2,
                   shift=0.1)


@behaviour("aug.fresh")
def test_fresh(case, adapter, profile, check, rng):
    x = images(rng, 64, size=4)
    layer = build(adapter, profile, "flip")
    first, second = (layer.forward(x, training=True) for _ in range(2))
    check.true("flips", not np.array_equal(first, second), "two calls flipped the same images of 64 (probability 2^-64)")


@behaviour("aug.seed.argument")
def test_seed_argument(case, adapter, profile, check, rng):
    x = images(rng, 64, size=4)
    y1, y2, y3 = (build(adapter, profile, "flip", seed=s).forward(x, training=True) for s in (7, 7, 8))
    check.equal("same seed", y2, y1)
    check.true("another seed", not np.array_equal(y3, y1), "seeds 7 and 8 flipped the same images of 64 (probability 2^-64)")
