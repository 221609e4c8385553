"""Bugs of PyTorch's data-parallel code (DistributedDataParallel, SyncBatchNorm) and of its dropout as replicas run it
(specs/behaviours/replicas.yaml). The replicas run in worker processes forked from the suite's process
(adapters/torch_replicas.py), so a patch installed here is inherited by every worker, and the workers report its hits
back to the parent."""
import torch
import torch.distributed as dist

from benchmarks.mutants.kit import hit, mutant
from benchmarks.mutants.torch_bugs import DROPOUT, functional

DDP = "torch.nn.parallel.DistributedDataParallel"


def _in_a_group():
    return dist.is_available() and dist.is_initialized()


@mutant("ddp_buffers_never_broadcast", f"{DDP}._sync_buffers")
def _(sync, self):
    return None if hit(self.forward_sync_buffers) else sync(self)


@mutant("ddp_buffers_broadcast_when_off")
def _():
    from torch.nn.parallel import DistributedDataParallel

    def _check_sync_bufs_pre_fwd(self):
        if self.require_forward_param_sync and len(self.modules_buffers) > 0:
            hit(not self.forward_sync_buffers)
            return True
        return False
    DistributedDataParallel._check_sync_bufs_pre_fwd = _check_sync_bufs_pre_fwd
    DistributedDataParallel.will_sync_module_buffers = (
        lambda self: self.require_forward_param_sync and len(self.modules_buffers) > 0)


def _summed(state, bucket):
    hit()
    return dist.all_reduce(bucket.buffer(), async_op=True).get_future().then(lambda f: f.value()[0])


@mutant("ddp_gradients_summed", f"{DDP}.__init__")
def _(init, self, *args, **kwargs):
    init(self, *args, **kwargs)
    self.register_comm_hook(None, _summed)


@mutant("sync_bn_cpu_per_replica", "torch.nn.SyncBatchNorm.forward")
def _(forward, self, input):
    if not hit(self.training and dist.is_initialized() and input.device.type == "cpu"):
        return forward(self, input)
    return torch.nn.functional.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias, True,
                                          self.momentum or 0.0, self.eps)


@functional("dropout_shared_seed", DROPOUT)
def _(dropout, **a):
    if not hit(a["training"] and _in_a_group()):
        return dropout(**a)
    with torch.random.fork_rng():
        torch.manual_seed(1234)
        return dropout(**a)


@functional("dropout_rank_zero_only", DROPOUT)
def _(dropout, **a):
    if hit(a["training"] and _in_a_group() and dist.get_rank() > 0 and a["p"] > 0):
        a["p"] = 0.0
    return dropout(**a)
