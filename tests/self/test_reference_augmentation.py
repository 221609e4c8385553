"""reference/augmentation.py against hand-computed values and the KS test's exact distribution."""
import numpy as np
import pytest
from scipy import stats

from layerconf.reference import augmentation as ref
from layerconf.reference import statistics


def test_flip_mirrors_the_named_axis():
    x = np.arange(8.0).reshape(1, 2, 2, 2)
    assert ref.flip(x, "horizontal")[0, 0, 0].tolist() == [2.0, 3.0]   # row 0, column 0 <- column 1
    assert ref.flip(x, "vertical")[0, 0, 0].tolist() == [4.0, 5.0]     # row 0 <- row 1


def test_brightness_adds_one_delta_per_image_and_clips():
    x = np.array([10.0, 250.0, 0.0, 128.0]).reshape(2, 1, 2, 1)
    y = ref.brightness(x, [20.0, -5.0], (0, 255))
    assert y.ravel().tolist() == [30.0, 255.0, 0.0, 123.0]


def test_contrast_scales_around_each_channels_mean():
    x = np.array([[1.0, 10.0], [3.0, 30.0]]).reshape(1, 1, 2, 2)   # channel means 2 and 20
    y = ref.contrast(x, [2.0], (0, 255))
    assert y.ravel().tolist() == [0.0, 0.0, 4.0, 40.0]   # (1 - 2) 2 + 2 = 0, (10 - 20) 2 + 20 = 0, 4, 40


def test_ramp_reveals_a_shift():
    x = ref.ramp(1, 4)
    value, d_col, d_row = ref.ramp_gradients(x, 1)
    assert value[0].tolist() == [1.0, 1.0] and d_col[0].tolist() == [1.0, 0.0] and d_row[0].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("shape, target, window", [((12, 16), (8, 8), (0, 2, 12, 12)), ((16, 16), (8, 8), (0, 0, 16, 16)),
                                                   ((10, 20), (5, 5), (0, 5, 10, 10)), ((9, 4), (2, 4), (3, 0, 2, 4))])
def test_crop_window_is_the_largest_centred_one(shape, target, window):
    assert ref.crop_window(*shape, *target) == window


def test_resize_bilinear_halves_by_averaging_pairs():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    y = ref.resize_bilinear(x, 2, 2)   # samples at 0.5 and 2.5: the mean of each 2 x 2 block
    assert y[0, :, :, 0].tolist() == [[2.5, 4.5], [10.5, 12.5]]


def test_resize_bilinear_is_exact_on_a_ramp_and_identity_at_the_same_size():
    x = ref.ramp(1, 12)
    assert np.array_equal(ref.resize_bilinear(x, 12, 12), x)
    y = ref.resize_bilinear(x, 8, 8)                # o samples (o + 0.5) 1.5 - 0.5, inside the image
    assert np.allclose(y[0, 0, :, 0], (np.arange(8) + 0.5) * 1.5 - 0.5)


def test_center_crop_resize_of_a_square_target():
    x = ref.ramp(1, 6)[:, :4]                      # 4 x 6: window 4 x 4 at column 1
    y = ref.center_crop_resize(x, 2, 2)
    assert np.allclose(y[0, 0, :, 0], [1.5, 3.5]) and np.allclose(y[0, :, 0, 1], [0.5, 2.5])


def test_ks_statistic_and_region():
    assert statistics.ks_uniform([0.5], 0.0, 1.0) == pytest.approx(0.5)
    region = statistics.ks_region(512)
    assert region.lo == 0 and region.false_alarm == stats.kstwo(512).sf(region.hi) <= 1e-6
    assert region.false_alarm == pytest.approx(1e-6, rel=1e-3)
    assert 0.11 < region.hi < 0.13   # about sqrt(ln(2 / 1e-6) / (2 n))


def test_ks_power_bound():
    region = statistics.ks_region(512)
    # a range halved leaves F_n(-1/2) = 0 < 1/4 - d; under the null itself the bound stays below alpha
    assert statistics.ks_uniform_power(512, region, -1, 1, -0.5, 0.5) == pytest.approx(1.0)
    assert statistics.ks_uniform_power(512, region, -1, 1, -1, 1) < 1e-6


def test_ks_false_alarm_by_simulation():
    rng = np.random.default_rng(0)
    region = statistics.ks_region(200, 0.05)
    rejected = sum(statistics.ks_uniform(rng.uniform(-1, 1, 200), -1, 1) > region.hi for _ in range(400))
    assert rejected < 50   # about 20 expected at alpha = 0.05
