"""Random image augmentation (Keras RandomFlip, RandomBrightness, RandomContrast, RandomTranslation, RandomZoom,
RandomRotation, RandomCrop): the deterministic maps given the drawn parameter, images (N, H, W, C) channels last,
and the exact tests of the drawn parameters' distributions.

A ramp image (channel 0 = the column index j, channel 1 = the row index i) reveals a spatial transform: bilinear
interpolation reproduces an affine function exactly, so at an interior pixel the output is the ramp at the point
the transform samples, and its finite differences are the transform's linear part.
"""
import numpy as np


def flip(x, axis: str):
    """x mirrored along the width ('horizontal') or height ('vertical') axis of each image."""
    return x[:, :, ::-1] if axis == "horizontal" else x[:, ::-1]


def brightness(x, delta, value_range):
    """y = clip(x + delta_n, lo, hi), one delta per image (delta of shape (N,))."""
    lo, hi = value_range
    return np.clip(x + np.reshape(delta, (-1, 1, 1, 1)), lo, hi)


def contrast(x, factor, value_range):
    """y = clip((x - m) c_n + m, lo, hi), m the mean of each image's channel over height and width."""
    m = x.mean(axis=(1, 2), keepdims=True)
    return np.clip((x - m) * np.reshape(factor, (-1, 1, 1, 1)) + m, *value_range)


def ramp(n: int, size: int):
    """n images (size, size, 2): channel 0 holds the column index j, channel 1 the row index i."""
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.broadcast_to(np.stack([j, i], -1).astype(np.float64), (n, size, size, 2)).copy()


def ramp_gradients(y, c: int):
    """Per image: the value at (c, c) (shape (N, 2)) and the differences along the columns and the rows there."""
    return y[:, c, c], y[:, c, c + 1] - y[:, c, c], y[:, c + 1, c] - y[:, c, c]


def crop_window(height: int, width: int, h: int, w: int) -> tuple[int, int, int, int]:
    """The largest centred window of aspect h : w: (top, left, ch, cw), ch = min(H, floor(W h / w)) (at least 1),
    cw likewise, top = (H - ch) // 2 (Keras image_utils.smart_resize, RandomCrop in inference)."""
    ch = max(min(height, int(width * h / w)), 1)
    cw = max(min(width, int(height * w / h)), 1)
    return (height - ch) // 2, (width - cw) // 2, ch, cw


def resize_bilinear(x, h: int, w: int):
    """Bilinear resize of each image (N, H, W, C) to (h, w), half-pixel centres, no antialiasing: the output pixel
    o samples the input at (o + 1/2) H / h - 1/2, clamped to the edges (tf.image.resize's bilinear kernel)."""
    def axis(size_in, size_out):
        s = np.clip((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0, size_in - 1)
        lo = np.floor(s).astype(int)
        hi = np.minimum(lo + 1, size_in - 1)
        return lo, hi, s - lo
    (r0, r1, fr), (c0, c1, fc) = axis(x.shape[1], h), axis(x.shape[2], w)
    rows = x[:, r0] * (1 - fr)[None, :, None, None] + x[:, r1] * fr[None, :, None, None]
    return rows[:, :, c0] * (1 - fc)[None, None, :, None] + rows[:, :, c1] * fc[None, None, :, None]


def center_crop_resize(x, h: int, w: int):
    """RandomCrop in inference: the centred window of crop_window resized to (h, w)."""
    top, left, ch, cw = crop_window(x.shape[1], x.shape[2], h, w)
    return resize_bilinear(x[:, top:top + ch, left:left + cw], h, w)
