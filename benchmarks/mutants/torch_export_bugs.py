"""Semantic bugs injected into PyTorch for the torch.export flavours (see benchmarks/mutants/__init__.py).

PyTorch's own mutants (torch_bugs: torch.nn.functional patched) are registered too, but one: export traces the
patched functions into the programs. Added here, a bug of the export machinery itself that both flavours
run: the unlifting of an ExportedProgram into its module (torch/export/_unlift.py). The training IR keeps
aten.batch_norm and aten.dropout, whose eager kernels run the program, so no other export pass sits in its
path; the decomposed flavour's own mutants are in torch_export_decomposed_bugs.
"""
import torch
import torch.export._unlift as unlift

from benchmarks.mutants import MUTANTS, hit, mutant, torch_bugs  # noqa: F401  (torch_bugs registers PyTorch's mutants)

# Not expressible here: do_grad_unscaled's bug lives in a custom autograd.Function's backward. Export traces that
# Function's forward into the program, and autograd differentiates the traced graph, so the custom backward never
# runs (run: dx = dy * mask / (1 - p) through the program, dy * mask eagerly).
MUTANTS.pop("do_grad_unscaled")


def _copy(value):
    """A copy of a state tensor, a parameter staying a parameter."""
    if isinstance(value, torch.nn.Parameter):
        return torch.nn.Parameter(value.detach().clone(), requires_grad=value.requires_grad)
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


@mutant("unlift_state_copied", "ExportedProgram.module() holds copies of the program's state, so the program "
                               "saved after training its module keeps the state it was exported with")
def _():
    register = unlift._register_attrs_to_new_gm

    def copied(new_gm, graph_signature, state_dict, constants):
        if state_dict:
            hit()
        register(new_gm, graph_signature, {k: _copy(v) for k, v in state_dict.items()}, constants)
    unlift._register_attrs_to_new_gm = copied
