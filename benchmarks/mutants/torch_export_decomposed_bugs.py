"""Semantic bugs injected into PyTorch for torch-export-decomposed (see benchmarks/mutants/__init__.py).

torch_export_bugs' mutants (PyTorch's own and the unlifting's) are registered too. Added here, bugs of what
only a decomposed program runs: the core ATen decomposition table that ExportedProgram.run_decompositions()
applies (torch.export.default_decompositions), and the copy of mutated buffers back into the module that
ExportedProgram.module() inserts for a functional graph (torch/export/_unlift.py).
"""
import torch
import torch.export._unlift as unlift
from torch.export.decomp_utils import CustomDecompTable

from benchmarks.mutants import hit, mutant, torch_export_bugs  # noqa: F401  (registers the shared mutants)

aten = torch.ops.aten


def _add_decomposition(op, decomposition):
    """Lay ``decomposition`` of ``op`` over the default table every materialize() returns."""
    materialize = CustomDecompTable.materialize

    def with_bug(self):
        return {**materialize(self), op: decomposition}
    CustomDecompTable.materialize = with_bug


@mutant("unlift_buffer_mutation_dropped", "ExportedProgram.module() drops the copy of mutated buffers back into "
                                          "the module: a functional program's running statistics never move "
                                          "(pytorch#88375's symptom)")
def _():
    insert = unlift._insert_copy_for_mutations

    def without_buffers(gm, mutated_outputs, unlifted_name_to_node, input_name_to_node):
        insert(gm, mutated_outputs, unlifted_name_to_node, input_name_to_node)
        for node in list(gm.graph.nodes):
            if node.target is torch.ops.aten.copy_.default and node.args[0].op == "get_attr" and not node.users:
                hit()
                gm.graph.erase_node(node)
    unlift._insert_copy_for_mutations = without_buffers


@mutant("decomp_bn_running_var_biased", "the decomposition table decomposes _native_batch_norm_legit_functional "
                                        "with the running variance updated from the biased batch variance")
def _():
    from torch._decomp.decompositions import _native_batch_norm_legit_functional as decomposed

    def biased(input, weight, bias, running_mean, running_var, training, momentum, eps):
        hit()
        out = decomposed(input, weight, bias, running_mean, running_var, training, momentum, eps)
        if not training:
            return out
        axes = [0, *range(2, input.dim())]
        var = torch.var(input.to(running_var.dtype), dim=axes, correction=0)
        return (*out[:4], running_var * (1 - momentum) + var * momentum)
    _add_decomposition(aten._native_batch_norm_legit_functional.default, biased)


@mutant("decomp_dropout_keep_rate", "the decomposition table decomposes native_dropout keeping each element with "
                                    "probability p instead of 1 - p (and scaling the kept by 1 / (1 - p))")
def _():
    def keep_rate(input, p, train):
        if not train or p == 0:
            return input, torch.ones_like(input, dtype=torch.bool)
        hit()
        mask = torch.rand_like(input) < p
        return mask * input * (1.0 / (1.0 - p)), mask
    _add_decomposition(aten.native_dropout.default, keep_rate)
