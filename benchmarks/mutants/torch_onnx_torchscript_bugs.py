"""Bugs of the TorchScript ONNX exporter's symbolic functions (torch-onnx-torchscript): torch.onnx.export(dynamo=False)
translates each aten node with the symbolic registered for it (torch/onnx/_internal/torchscript_exporter/
symbolic_opset*.py). Each mutant registers, through the public torch.onnx.register_custom_op_symbolic, a symbolic
that calls the registered one with one argument wrong. torch_bugs' F.* mutants are not registered:
docs/research/torch_onnx.md says why."""
import functools
import importlib
import inspect

import torch
from torch.onnx._internal.torchscript_exporter import registration, symbolic_helper

from benchmarks.mutants.kit import hit, mutant

OPSET = 20                     # torch.onnx._constants.ONNX_DEFAULT_OPSET, the opset the adapter's exports use
ONNX_DEFAULT_EPS = 1e-5
BN = ("v", "v", "v", "v", "v", "i", "f", "f", "i")


def symbolic(name, op, descriptors):
    """Register mutant ``name`` as the decorated fn(registered symbolic, g, *arguments), the symbolic of aten::<op>."""
    def register(fn):
        @mutant(name)
        def _():
            for version in range(7, OPSET + 1):   # the exporter registers each opset's symbolics when it imports them
                importlib.import_module(f"torch.onnx._internal.torchscript_exporter.symbolic_opset{version}")
            original = registration.registry.get_function_group(f"aten::{op}").get(OPSET)
            def wrapped(*args):
                return fn(original, *args)
            wrapped.__name__, wrapped.__signature__ = op, inspect.signature(functools.partial(fn, original))   # parse_args reads it
            torch.onnx.register_custom_op_symbolic(f"aten::{op}", symbolic_helper.parse_args(*descriptors)(wrapped), OPSET)
        return fn
    return register


@symbolic("symbolic_bn_eps_dropped", "batch_norm", BN)
def _(original, g, input, weight, bias, mean, var, training, momentum, eps, cudnn):
    hit()
    return original(g, input, weight, bias, mean, var, training, momentum, ONNX_DEFAULT_EPS, cudnn)


@symbolic("symbolic_bn_training_as_eval", "batch_norm", BN)
def _(original, g, input, weight, bias, mean, var, training, momentum, eps, cudnn):
    hit(training)
    return original(g, input, weight, bias, mean, var, 0, momentum, eps, cudnn)


@symbolic("symbolic_dropout_keep_rate", "dropout", ("v", "f", "b"))
def _(original, g, input, p, train):
    hit(train)
    return original(g, input, 1.0 - p, train)
