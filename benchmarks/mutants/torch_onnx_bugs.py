"""Bugs of the dynamo ONNX exporter's translation rules (torch-onnx): torch.onnx.export(dynamo=True) translates each
ATen operator with onnxscript's torchlib (onnxscript/function_libs/torch_lib/ops/core.py). Each mutant edits one
rule: a trace-only rule is a TracedOnnxFunction whose ``func`` the exporter calls, and the batch-norm rules call the
module-level helper ``_aten_native_batch_norm_inference_onnx``. (The mutants plugin bypasses the exported graphs
kept in layerconf's cache folder, whose key does not name the rules' code.) torch_bugs' F.* mutants are not
registered: docs/research/torch_onnx.md says why and lists which would apply."""
from onnxscript.function_libs.torch_lib.ops import core

from benchmarks.mutants.kit import hit, mutant

ONNX_DEFAULT_EPS = 1e-5
BN_INFERENCE = (core, "_aten_native_batch_norm_inference_onnx")
DROPOUT = (core.aten_native_dropout, "func")


@mutant("torchlib_bn_stats_swapped", BN_INFERENCE)
def _(original, input, weight, bias, running_mean, running_var, momentum, eps):
    hit()
    return original(input=input, weight=weight, bias=bias, running_mean=running_var, running_var=running_mean, momentum=momentum, eps=eps)


@mutant("torchlib_bn_eps_dropped", BN_INFERENCE)
def _(original, input, weight, bias, running_mean, running_var, momentum, eps):
    hit()
    return original(input=input, weight=weight, bias=bias, running_mean=running_mean, running_var=running_var, momentum=momentum,
                    eps=ONNX_DEFAULT_EPS)


@mutant("torchlib_dropout_keep_rate", DROPOUT)
def _(original, input, p, train=True):
    hit()
    return original(input, 1.0 - p, train)


@mutant("torchlib_dropout_train_dropped", DROPOUT)
def _(original, input, p, train=True):
    hit()
    return original(input, p, False)
