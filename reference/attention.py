"""Multi-head attention with dropout on the attention weights (float64).

Projections in the form x @ kernel + bias, per head: q_kernel, k_kernel, v_kernel (E, H, D) with biases (H, D),
o_kernel (H, D, E) with o_bias (E,). For query (N, L, E), key and value (N, S, E):

    Q = query @ q_kernel + q_bias,  K = key @ k_kernel + k_bias,  V = value @ v_kernel + v_bias   (N, H, ., D)
    A = softmax(Q K^T / sqrt(D))                      (N, H, L, S), softmax over the keys
    A' = A * keep / (1 - p)                           dropout on the weights (training; A' = A in inference)
    y = sum_h (A'_h V_h) @ o_kernel_h + o_bias        (N, L, E)
"""
import numpy as np

KEYS = ("q_kernel", "q_bias", "k_kernel", "k_bias", "v_kernel", "v_bias", "o_kernel", "o_bias")


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(z - max z) / sum exp(z - max z) along ``axis``."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def project(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(N, S, E) @ (E, H, D) + (H, D) -> (N, H, S, D)."""
    return np.einsum("nse,ehd->nhsd", np.asarray(x, np.float64), kernel) + np.asarray(bias, np.float64)[None, :, None, :]


def weights(query: np.ndarray, key: np.ndarray, params: dict) -> np.ndarray:
    """A = softmax(Q K^T / sqrt(D)), (N, H, L, S)."""
    q = project(query, params["q_kernel"], params["q_bias"])
    k = project(key, params["k_kernel"], params["k_bias"])
    return softmax(np.einsum("nhld,nhsd->nhls", q, k) / np.sqrt(q.shape[-1]))


def dropped(a: np.ndarray, keep: np.ndarray, rate: float) -> np.ndarray:
    """A' = A keep / (1 - p): the kept weights scaled, the dropped ones 0."""
    return np.where(keep, np.asarray(a, np.float64) / (1.0 - rate), 0.0)


def output(a: np.ndarray, value: np.ndarray, params: dict) -> np.ndarray:
    """y = sum_h (A_h V_h) @ o_kernel_h + o_bias for weights ``a`` (N, H, L, S), as given (dropped or not)."""
    v = project(value, params["v_kernel"], params["v_bias"])
    heads = np.einsum("nhls,nhsd->nhld", a, v)
    return np.einsum("nhld,hde->nle", heads, np.asarray(params["o_kernel"], np.float64)) + np.asarray(params["o_bias"], np.float64)


def attention(query, key, value, params: dict, keep=None, rate: float = 0.0) -> np.ndarray:
    """The layer's output: inference (keep None) or training with the keep mask (N, H, L, S)."""
    a = weights(query, key, params)
    return output(a if keep is None else dropped(a, keep, rate), value, params)


def exposing_value(n: int, s: int, heads: int) -> tuple[np.ndarray, dict]:
    """A value input and identity value/output projections that make the output show the dropped weights.

    With D = s + 1 and E = heads * D, value[n, j, h D + c] = [c == j] + [c == s]: head h's output row l is
    (A'_h[l, 0], ..., A'_h[l, s-1], sum_j A'_h[l, j]); reshaped (N, L, H, D) it holds every head's weights and
    their row sum, which equals the sum of the others only where the dropout acts on the weights."""
    d = s + 1
    block = np.concatenate([np.eye(s), np.ones((s, 1))], axis=1)          # (S, D)
    value = np.broadcast_to(np.tile(block, (1, heads)), (n, s, heads * d)).copy()
    eye = np.eye(heads * d)
    return value, {"v_kernel": eye.reshape(heads * d, heads, d), "v_bias": np.zeros((heads, d)),
                   "o_kernel": eye.reshape(heads, d, heads * d), "o_bias": np.zeros(heads * d)}


def shown_weights(y: np.ndarray, heads: int) -> np.ndarray:
    """The (N, H, L, S) weights an output of ``exposing_value`` shows (its last column per head dropped)."""
    n, length, e = y.shape
    return np.asarray(y, np.float64).reshape(n, length, heads, e // heads).transpose(0, 2, 1, 3)[..., :-1]
