"""Semantic bugs injected into PyTorch's data-parallel code (DistributedDataParallel, SyncBatchNorm) and its dropout
as replicas run it (see benchmarks/mutants/__init__.py for the machinery).

The replicas run in worker processes forked from the suite's process (adapters/torch_replicas.py), so a patch
installed here is inherited by every worker, and the workers report its hits back to the parent.
"""
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from benchmarks.mutants import hit, mutant
from benchmarks.mutants.torch_bugs import _patch


@mutant("ddp_buffers_never_broadcast",
        "DistributedDataParallel never broadcasts rank 0's buffers before a forward, whatever broadcast_buffers says")
def _():
    sync = DistributedDataParallel._sync_buffers

    def _sync_buffers(self):
        if self.forward_sync_buffers:
            hit()
            return None
        return sync(self)
    DistributedDataParallel._sync_buffers = _sync_buffers


@mutant("ddp_buffers_broadcast_when_off",
        "DistributedDataParallel broadcasts rank 0's buffers before a forward with broadcast_buffers=False too")
def _():
    def _check_sync_bufs_pre_fwd(self):
        if self.require_forward_param_sync and len(self.modules_buffers) > 0:
            if not self.forward_sync_buffers:
                hit()
            return True
        return False
    DistributedDataParallel._check_sync_bufs_pre_fwd = _check_sync_bufs_pre_fwd
    DistributedDataParallel.will_sync_module_buffers = (
        lambda self: self.require_forward_param_sync and len(self.modules_buffers) > 0)


@mutant("ddp_gradients_summed", "DistributedDataParallel all-reduces the gradients without dividing by the world size (sums them)")
def _():
    init = DistributedDataParallel.__init__

    def summed(state, bucket):
        hit()
        future = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
        return future.then(lambda f: f.value()[0])

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.register_comm_hook(None, summed)
    DistributedDataParallel.__init__ = __init__


@mutant("sync_bn_cpu_per_replica", "SyncBatchNorm accepts CPU tensors and normalises each replica with its own statistics "
        "(the device check and the reduction both gone)")
def _():
    forward = torch.nn.SyncBatchNorm.forward

    def wrapper(self, input):
        if self.training and dist.is_initialized() and input.device.type == "cpu":
            hit()
            return torch.nn.functional.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                                                  True, self.momentum or 0.0, self.eps)
        return forward(self, input)
    torch.nn.SyncBatchNorm.forward = wrapper


def _in_a_group():
    return dist.is_available() and dist.is_initialized()


@mutant("dropout_shared_seed", "every replica process draws its dropout mask from one shared seed: the replicas' masks are identical")
def _():
    def make(dropout):
        def body(**k):
            if not (k["training"] and _in_a_group()):
                return dropout(**k)
            hit()
            with torch.random.fork_rng():
                torch.manual_seed(1234)
                return dropout(**k)
        return body
    _patch("dropout", make)


@mutant("dropout_rank_zero_only",
        "only rank 0 applies dropout; the other replicas pass their input through (the rate over the union falls)")
def _():
    def make(dropout):
        def body(**k):
            if k["training"] and _in_a_group() and dist.get_rank() > 0 and k["p"] > 0:
                hit()
                k["p"] = 0.0
            return dropout(**k)
        return body
    _patch("dropout", make)
