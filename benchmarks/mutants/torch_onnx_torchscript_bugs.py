"""Semantic bugs injected into the TorchScript ONNX exporter's symbolic functions (torch-onnx-torchscript; see
benchmarks/mutants/__init__.py).

torch.onnx.export(dynamo=False) translates each aten node of the traced graph with the symbolic function
registered for it (torch/onnx/_internal/torchscript_exporter/symbolic_opset*.py). Each mutant registers, through
the public torch.onnx.register_custom_op_symbolic, a symbolic that calls the registered one with one argument
wrong, as a bug in that function would. (The mutants plugin bypasses the graphs kept in layerconf's cache folder,
whose key does not name the symbolics.)

torch_bugs' F.* mutants are not registered here: the training graph's running statistics are never outputs (see
specs/deviations/torch-onnx.yaml), so the momentum and running-variance mutants cannot show, and the dropout
mutants patch autograd or functions the trace records as one aten node; docs/research/torch_onnx.md lists them.
"""
import importlib

import torch
from torch.onnx._internal.torchscript_exporter import registration, symbolic_helper

from benchmarks.mutants import hit, mutant

OPSET = 20                     # torch.onnx._constants.ONNX_DEFAULT_OPSET, the opset the adapter's exports use
ONNX_DEFAULT_EPS = 1e-5


def _override(name: str, descriptors: tuple, make):
    """Register make(registered symbolic) as the symbolic of aten::<name> at the exports' opset."""
    for version in range(7, OPSET + 1):   # the exporter registers each opset's symbolics when it imports them
        importlib.import_module(f"torch.onnx._internal.torchscript_exporter.symbolic_opset{version}")
    original = registration.registry.get_function_group(f"aten::{name}").get(OPSET)
    torch.onnx.register_custom_op_symbolic(f"aten::{name}", symbolic_helper.parse_args(*descriptors)(make(original)), OPSET)


BN = ("v", "v", "v", "v", "v", "i", "f", "f", "i")


@mutant("symbolic_bn_eps_dropped", "batch_norm's symbolic drops eps: the node gets ONNX's default epsilon 1e-5")
def _():
    def make(original):
        def batch_norm(g, input, weight, bias, mean, var, training, momentum, eps, cudnn):
            hit()
            return original(g, input, weight, bias, mean, var, training, momentum, ONNX_DEFAULT_EPS, cudnn)
        return batch_norm
    _override("batch_norm", BN, make)


@mutant("symbolic_bn_training_as_eval", "batch_norm's symbolic ignores the training flag: training_mode 0 in a training export")
def _():
    def make(original):
        def batch_norm(g, input, weight, bias, mean, var, training, momentum, eps, cudnn):
            if training:
                hit()
            return original(g, input, weight, bias, mean, var, 0, momentum, eps, cudnn)
        return batch_norm
    _override("batch_norm", BN, make)


@mutant("symbolic_dropout_keep_rate", "dropout's symbolic writes ratio 1 - p: p read as the keep probability")
def _():
    def make(original):
        def dropout(g, input, p, train):
            if train:
                hit()
            return original(g, input, 1.0 - p, train)
        return dropout
    _override("dropout", ("v", "f", "b"), make)
