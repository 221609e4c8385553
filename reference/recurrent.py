"""Recurrent layers (Elman RNN with tanh, LSTM, GRU) with dropout masks, in float64.

One layer's weights, gates stacked in the neutral order (rnn: one block; lstm: i, f, g, o; gru: r, z, n):
kernel (F, G H), recurrent_kernel (H, G H), bias (G H), recurrent_bias (G H; zeros where the layer has one bias).
A step, with u = m_in x_t and v = m_state h_{t-1} (masks already scaled: 0 or 1 / (1 - p)):
    a = u K + b,  r_ = v U + b_h                      (each split into the G gate blocks)
    rnn:  h = tanh(a + r_)
    lstm: i, f, o = sigmoid(a + r_);  g = tanh(a_g + r_g);  c = f c_{t-1} + i g;  h = o tanh(c)
    gru:  r, z = sigmoid(a + r_);  n = tanh(a_n + r r_n);  h = (1 - z) n + z h_{t-1}
(GRU: the reset gate applied after the recurrent product, as torch.nn.GRU and Keras' reset_after=True.)
The masks reach only the products; the unmasked h_{t-1}, c_{t-1} carry on. Stacked layers: layer l > 0 reads
layer l - 1's outputs, through its input mask (dropout between layers).
"""
import numpy as np

GATES = {"rnn": ("g",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def step(cell: str, x, h, c, w: dict, m_in=1.0, m_state=1.0):
    """(h_t, c_t) of one step from x_t (N, F), h_{t-1}, c_{t-1} (N, H) (c unused but by lstm)."""
    gates = GATES[cell]
    a = dict(zip(gates, np.split((m_in * x) @ w["kernel"] + w["bias"], len(gates), axis=-1)))
    r = dict(zip(gates, np.split((m_state * h) @ w["recurrent_kernel"] + w["recurrent_bias"], len(gates), axis=-1)))
    if cell == "rnn":
        return np.tanh(a["g"] + r["g"]), c
    if cell == "lstm":
        i, f, o = (sigmoid(a[k] + r[k]) for k in "ifo")
        c = f * c + i * np.tanh(a["g"] + r["g"])
        return o * np.tanh(c), c
    reset, z = sigmoid(a["r"] + r["r"]), sigmoid(a["z"] + r["z"])
    return (1 - z) * np.tanh(a["n"] + reset * r["n"]) + z * h, c


def layer(cell: str, x, w: dict, in_mask=None, state_mask=None):
    """Outputs h_1..h_T (N, T, H) of one layer on x (N, T, F) from zero initial states; masks (N, T, F) and
    (N, T, H), scaled, or None (no dropout)."""
    n, steps, _ = x.shape
    h = c = np.zeros((n, w["recurrent_kernel"].shape[0]))
    out = []
    for t in range(steps):
        h, c = step(cell, np.asarray(x[:, t], np.float64), h, c, w,
                    1.0 if in_mask is None else in_mask[:, t], 1.0 if state_mask is None else state_mask[:, t])
        out.append(h)
    return np.stack(out, axis=1)


def stack(cell: str, x, layers: list, between: list | None = None):
    """Outputs of the last of the stacked layers; between[l - 1]: the scaled mask on layer l's input (l > 0)."""
    y = layer(cell, x, layers[0])
    for i, w in enumerate(layers[1:]):
        y = layer(cell, y, w, None if between is None else between[i])
    return y


def scaled(keep, rate: float):
    """The inverted-dropout mask: keep / (1 - rate)."""
    return np.asarray(keep, np.float64) / (1.0 - rate)


def constant_over_time(keep) -> np.ndarray:
    """Per (sample, unit): whether the keep mask (N, T, H) is the same at every step."""
    return np.all(keep == keep[:, :1], axis=1)
