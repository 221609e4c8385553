"""Bugs of PyTorch's recurrent layers: nn.RNN / LSTM / GRU.forward call torch._VF.rnn_tanh / lstm / gru (input, hx,
flat_weights, bias, num_layers, dropout, train, bidirectional, batch_first), whose C++ kernel applies the dropout
between layers; each mutant replaces those entries (looked up at call time). The mutants that change the mask itself
run the real kernel one layer at a time and put the wrong dropout between the layers."""
import torch
import torch.nn.functional as F

from benchmarks.mutants.kit import hit, mutant

KERNELS = [f"torch._VF.{name}" for name in ("rnn_tanh", "lstm", "gru")]


def kernel(body):
    """A kernel replacement passing the unpacked call (a tensor input and 9 arguments) to body(original, args)."""
    def wrapper(original, *args):
        return body(original, list(args)) if len(args) == 9 and isinstance(args[2], (list, tuple)) else original(*args)
    return wrapper


def _by_layer(between):
    """The stacked kernel layer by layer, between(y, p, batch_first) on the outputs of each layer but the last, in
    training (unidirectional layers; 2 or 4 weights per layer)."""
    def body(original, args):
        x, hx, weights, bias, layers, p, train, bidirectional, batch_first = args
        if not hit(train and p > 0 and layers > 1 and not bidirectional):
            return original(*args)
        per, lstm, finals = len(weights) // layers, isinstance(hx, (list, tuple)), []
        for k in range(layers):
            h = tuple(t[k:k + 1] for t in hx) if lstm else hx[k:k + 1]
            out = original(x, h, weights[k * per:(k + 1) * per], bias, 1, 0.0, train, False, batch_first)
            finals.append(out[1:])
            x = between(out[0], p, batch_first) if k < layers - 1 else out[0]
        return (x, *[torch.cat([f[i] for f in finals]) for i in range(len(finals[0]))])
    return kernel(body)


@mutant("rnn_dropout_in_eval", *KERNELS)
@kernel
def _(original, args):
    if hit(args[5] > 0 and not args[6]):
        args[6] = True
    return original(*args)


@mutant("rnn_dropout_after_last", *KERNELS)
@kernel
def _(original, args):
    out = original(*args)
    return (F.dropout(out[0], args[5], True), *out[1:]) if hit(args[6] and args[5] > 0) else out


def _per_sequence(y, p, batch_first):
    shape = list(y.shape)
    shape[1 if batch_first else 0] = 1
    return y * F.dropout(torch.ones(shape, dtype=y.dtype, device=y.device), p, True)


mutant("rnn_dropout_unscaled", *KERNELS)(_by_layer(lambda y, p, bf: F.dropout(y, p, True) * (1 - p)))
mutant("rnn_dropout_keep_rate", *KERNELS)(_by_layer(lambda y, p, bf: F.dropout(y, 1 - p, True)))
mutant("rnn_dropout_per_sequence", *KERNELS)(_by_layer(_per_sequence))
