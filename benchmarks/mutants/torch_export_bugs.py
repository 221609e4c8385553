"""Bugs for the torch.export flavours: PyTorch's own (torch_bugs, export traces the patched functions into the
programs; do_grad_unscaled cannot apply, bugs.yaml says why) and one of the export machinery both flavours run, the
unlifting of an ExportedProgram into its module (torch/export/_unlift.py). The training IR keeps aten.batch_norm and
aten.dropout, whose eager kernels run the program, so no other export pass sits in its path."""
import torch

from benchmarks.mutants import torch_bugs  # noqa: F401  (registers PyTorch's mutants)
from benchmarks.mutants.kit import hit, mutant


def _copy(value):
    """A copy of a state tensor, a parameter staying a parameter."""
    if isinstance(value, torch.nn.Parameter):
        return torch.nn.Parameter(value.detach().clone(), requires_grad=value.requires_grad)
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


@mutant("unlift_state_copied", "torch.export._unlift._register_attrs_to_new_gm")
def _(register, new_gm, graph_signature, state_dict, constants):
    hit(bool(state_dict))
    register(new_gm, graph_signature, {k: _copy(v) for k, v in state_dict.items()}, constants)
