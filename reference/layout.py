"""Layouts: where the channel axis is, and which axes a per-channel statistic reduces over."""

LAYOUTS = {
    "NC": 1,
    "NCL": 1,
    "NLC": 2,
    "NCHW": 1,
    "NHWC": 3,
    "NCDHW": 1,
    "NDHWC": 4,
}


def channel_axis(layout: str) -> int:
    """Index of the channel axis ('C') in ``layout``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    return LAYOUTS[layout]


def reduction_axes(layout: str) -> tuple[int, ...]:
    """Every axis but the channel axis: the axes a per-channel batch statistic averages over."""
    c = channel_axis(layout)
    return tuple(a for a in range(len(layout)) if a != c)


def channel_shape(layout: str, channels: int) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector against an array of ``layout``."""
    return tuple(channels if a == channel_axis(layout) else 1 for a in range(len(layout)))


def shape_of(layout: str, batch: int, channels: int, spatial: int) -> tuple[int, ...]:
    """Array shape for ``layout`` with every spatial extent equal to ``spatial``."""
    sizes = {"N": batch, "C": channels}
    return tuple(sizes.get(axis, spatial) for axis in layout)
