"""Semantic bugs injected into PyTorch's recurrent layers (see benchmarks/mutants/__init__.py).

nn.RNN / LSTM / GRU.forward call torch._VF.rnn_tanh / lstm / gru (input, hx, flat_weights, bias, num_layers,
dropout, train, bidirectional, batch_first), whose C++ kernel applies the dropout between layers. Each mutant
replaces those entries of torch._VF, looked up at call time. The mutants that change the mask itself run the real
kernel one layer at a time (num_layers=1, that layer's weights) and put the wrong dropout between the layers.
"""
import torch
import torch.nn.functional as F

from benchmarks.mutants import hit, mutant

KERNELS = ("rnn_tanh", "lstm", "gru")


def _patch(body):
    """torch._VF.<kernel> = body(original, args) for the unpacked call (a tensor input and 9 arguments)."""
    for name in KERNELS:
        original = getattr(torch._VF, name)

        def wrapper(*args, _original=original):
            if len(args) == 9 and isinstance(args[2], (list, tuple)):
                return body(_original, list(args))
            return _original(*args)
        setattr(torch._VF, name, wrapper)


def _by_layer(between):
    """Run the stacked kernel layer by layer with between(y, p) on the outputs of each layer but the last, in
    training (unidirectional layers; 2 or 4 weights per layer)."""
    def body(original, args):
        x, hx, weights, bias, layers, p, train, bidirectional, batch_first = args
        if not (train and p > 0 and layers > 1) or bidirectional:
            return original(*args)
        hit()
        per = len(weights) // layers
        lstm = isinstance(hx, (list, tuple))
        finals = []
        for k in range(layers):
            h = tuple(t[k:k + 1] for t in hx) if lstm else hx[k:k + 1]
            out = original(x, h, weights[k * per:(k + 1) * per], bias, 1, 0.0, train, False, batch_first)
            finals.append(out[1:])
            x = between(out[0], p, batch_first) if k < layers - 1 else out[0]
        states = [torch.cat([f[i] for f in finals]) for i in range(len(finals[0]))]
        return (x, *states)
    return body


@mutant("rnn_dropout_in_eval", "dropout between layers also in eval mode (the kernel's train argument forced to True)")
def _():
    def body(original, args):
        if args[5] > 0 and not args[6]:
            hit()
            args[6] = True
        return original(*args)
    _patch(body)


@mutant("rnn_dropout_after_last", "dropout also on the last layer's outputs")
def _():
    def body(original, args):
        out = original(*args)
        if args[6] and args[5] > 0:
            hit()
            return (F.dropout(out[0], args[5], True), *out[1:])
        return out
    _patch(body)


@mutant("rnn_dropout_unscaled", "dropout between layers keeps x * mask, without the 1 / (1 - p) scale")
def _():
    _patch(_by_layer(lambda y, p, bf: F.dropout(y, p, True) * (1 - p)))


@mutant("rnn_dropout_keep_rate", "dropout between layers drops with probability 1 - p (p read as the keep rate)")
def _():
    _patch(_by_layer(lambda y, p, bf: F.dropout(y, 1 - p, True)))


@mutant("rnn_dropout_per_sequence", "one dropout mask per sequence between layers, reused at every step")
def _():
    def between(y, p, batch_first):
        time = 1 if batch_first else 0
        shape = list(y.shape)
        shape[time] = 1
        return y * F.dropout(torch.ones(shape, dtype=y.dtype, device=y.device), p, True)
    _patch(_by_layer(between))
