"""Bugs for torch-export-decomposed: torch_export_bugs' and those of what only a decomposed program runs, the core
ATen decomposition table that ExportedProgram.run_decompositions() applies (torch.export.default_decompositions)
and the copy of mutated buffers back into the module that ExportedProgram.module() inserts for a functional graph
(torch/export/_unlift.py)."""
import torch
from torch._decomp.decompositions import _native_batch_norm_legit_functional as decomposed

from benchmarks.mutants import torch_export_bugs  # noqa: F401  (registers the shared mutants)
from benchmarks.mutants.kit import hit, mutant

aten = torch.ops.aten
MATERIALIZE = "torch.export.decomp_utils.CustomDecompTable.materialize"


def decomposition(name, op):
    """Register mutant ``name`` laying the decorated decomposition of ``op`` over the table materialize() returns."""
    return lambda fn: mutant(name, MATERIALIZE)(lambda materialize, self: {**materialize(self), op: fn})


@mutant("unlift_buffer_mutation_dropped", "torch.export._unlift._insert_copy_for_mutations")
def _(insert, gm, mutated_outputs, unlifted_name_to_node, input_name_to_node):
    insert(gm, mutated_outputs, unlifted_name_to_node, input_name_to_node)
    for node in list(gm.graph.nodes):
        if hit(node.target is torch.ops.aten.copy_.default and node.args[0].op == "get_attr" and not node.users):
            gm.graph.erase_node(node)


@decomposition("decomp_bn_running_var_biased", aten._native_batch_norm_legit_functional.default)
def _(input, weight, bias, running_mean, running_var, training, momentum, eps):
    hit()
    out = decomposed(input, weight, bias, running_mean, running_var, training, momentum, eps)
    if not training:
        return out
    var = torch.var(input.to(running_var.dtype), dim=[0, *range(2, input.dim())], correction=0)
    return (*out[:4], running_var * (1 - momentum) + var * momentum)


@decomposition("decomp_dropout_keep_rate", aten.native_dropout.default)
def _(input, p, train):
    if not hit(train and p != 0):
        return input, torch.ones_like(input, dtype=torch.bool)
    mask = torch.rand_like(input) < p
    return mask * input * (1.0 / (1.0 - p)), mask
