"""Semantic bugs injected into the dynamo ONNX exporter's translation rules (torch-onnx; see
benchmarks/mutants/__init__.py).

torch.onnx.export(dynamo=True) translates each ATen operator of the exported program with onnxscript's torchlib
(onnxscript/function_libs/torch_lib/ops/core.py). Each mutant edits one of those rules: a trace-only rule is a
TracedOnnxFunction whose ``func`` the exporter calls, and the batch-norm rules call the module-level helper
``_aten_native_batch_norm_inference_onnx``, so replacing either changes every graph exported afterwards. The
exported graphs kept in layerconf's cache folder are keyed by configuration and versions, not by the rules' code:
the mutants plugin bypasses them (layerconf.cache.bypass_artefacts) before it installs a mutant.

torch_bugs' F.* mutants are not registered here: the training graph is an inference BatchNormalization whatever
F.batch_norm does in training (see specs/deviations/torch-onnx.yaml), and the dropout mutants patch autograd or
functions the exporter traces away; docs/research/torch_onnx.md lists which would apply.
"""
from onnxscript.function_libs.torch_lib.ops import core

from benchmarks.mutants import hit, mutant

ONNX_DEFAULT_EPS = 1e-5


def _inference_helper(edit):
    """Replace core._aten_native_batch_norm_inference_onnx by one whose arguments pass through edit(dict)."""
    original = core._aten_native_batch_norm_inference_onnx

    def mutated(input, weight, bias, running_mean, running_var, momentum, eps):
        args = dict(input=input, weight=weight, bias=bias, running_mean=running_mean, running_var=running_var,
                    momentum=momentum, eps=eps)
        edit(args)
        hit()
        return original(**args)
    core._aten_native_batch_norm_inference_onnx = mutated


@mutant("torchlib_bn_stats_swapped", "the batch-norm rule wires the running variance into input_mean and the mean into input_var")
def _():
    def swap(args):
        args["running_mean"], args["running_var"] = args["running_var"], args["running_mean"]
    _inference_helper(swap)


@mutant("torchlib_bn_eps_dropped", "the batch-norm rule drops eps: the node gets ONNX's default epsilon 1e-5")
def _():
    _inference_helper(lambda args: args.update(eps=ONNX_DEFAULT_EPS))


def _dropout_rule(make):
    rule = core.aten_native_dropout
    rule.func = make(rule.func)


@mutant("torchlib_dropout_keep_rate", "native_dropout translated with ratio 1 - p: p read as the keep probability")
def _():
    def make(original):
        def native_dropout(input, p, train=True):
            hit()
            return original(input, 1.0 - p, train)
        return native_dropout
    _dropout_rule(make)


@mutant("torchlib_dropout_train_dropped", "native_dropout translated without its train flag: ONNX Dropout's default, inference")
def _():
    def make(original):
        def native_dropout(input, p, train=True):
            hit()
            return original(input, p, False)
        return native_dropout
    _dropout_rule(make)
