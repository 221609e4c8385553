"""PyTorch replicas: worker processes started with torch.multiprocessing (start method fork on the CPU, spawn on
cuda: CUDA cannot be initialised again in a forked child, as torch's multiprocessing notes say), each joining one
process group with torch.distributed.init_process_group("gloo"), as DistributedDataParallel's users start them on a
CPU machine; the pool of a world size is kept and reused across checks, and ended at exit.

Each call sends one message per rank and waits for every rank's answer up to ``TIMEOUT_S``; a rank that does not
answer in time (a collective that hangs) or dies ends the whole pool (SIGKILL, then join) and the call raises
TimeoutError: the next call starts a fresh pool. Workers poll for their parent and exit when it is gone, and
gloo's own timeout (``GLOO_TIMEOUT_S``) ends a collective a peer never joins.

Fork keeps what the parent patched (a mutant of the mutation benchmark, which runs on the CPU) in the workers; the
workers count the mutant's hits and the parent adds them to its own count. Spawned workers import afresh.
"""
import atexit
import contextlib
import datetime
import os
import socket
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

from layerconf.adapters.base import ReplicaError, Replicated

TIMEOUT_S = 40.0
GLOO_TIMEOUT_S = 20.0
DTYPES = {"float64": torch.float64, "float32": torch.float32}
STATE = {"running_mean": "running_mean", "running_var": "running_var", "gamma": "weight", "beta": "bias"}
_POOLS = {}


def _mutant_hits() -> int:
    module = sys.modules.get("benchmarks.mutants")
    return module.hits() if module is not None else 0


def _add_hits(n: int) -> None:
    module = sys.modules.get("benchmarks.mutants")
    for _ in range(n if module is not None else 0):
        module.hit()


# ---- in the worker -------------------------------------------------------------------------------------------

class _Worker:
    def __init__(self, rank, world, device):
        self.rank, self.world, self.device, self.model, self.optimizer = rank, world, device, None, None

    def build(self, kind, cls, channels, dtype, native, wrapper):
        self.dtype = DTYPES[dtype]
        module = getattr(torch.nn, cls)(**native) if channels is None else getattr(torch.nn, cls)(channels, **native)
        module = module.to(device=self.device, dtype=self.dtype)
        self.module, self.kind = module, kind
        if kind == "local":   # the BatchNorm's state is written through .module before the first step
            from torch.nn.parallel import DistributedDataParallel
            self.model = DistributedDataParallel(module, **wrapper)
        else:
            self.model = module
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.0) if kind == "local" else None

    def set_state(self, arrays):
        with torch.no_grad():
            for key, value in arrays.items():
                getattr(self.module, STATE[key]).copy_(torch.as_tensor(np.asarray(value, dtype=np.float64)))

    def seed(self, seed):
        torch.manual_seed(seed)

    def forward(self, x, training, dy, lr):
        xt = torch.as_tensor(np.asarray(x, dtype=np.float64)).to(device=self.device, dtype=self.dtype)
        self.model.train(training)
        if not training:   # evaluation as users write it: model.eval() under torch.no_grad()
            with torch.no_grad():
                return self.model(xt).cpu().numpy()
        if self.optimizer is None:
            return self.model(xt).detach().cpu().numpy()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        y = self.model(xt)
        dyt = torch.zeros_like(y) if dy is None else torch.as_tensor(np.asarray(dy, dtype=np.float64)).to(y)
        (y * dyt).sum().backward()
        self.optimizer.step()
        return y.detach().cpu().numpy()

    def state(self):
        out = {}
        for key, name in STATE.items():
            value = getattr(self.module, name, None)
            out[key] = None if value is None else value.detach().cpu().numpy()
        return out


def _serve(rank, world, port, conn, parent, device):
    torch.set_num_threads(1)   # as DataLoader workers: no OpenMP pool inherited across fork
    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=GLOO_TIMEOUT_S))
    except Exception as err:   # noqa: BLE001 - reported to the parent
        conn.send(("error", type(err).__name__, str(err), 0))
        return
    conn.send(("ok", None, 0))
    worker = _Worker(rank, world, device)
    while True:
        if not conn.poll(1.0):
            if os.getppid() != parent:
                os._exit(0)
            continue
        message = conn.recv()
        if message is None:
            break
        op, args = message
        before = _mutant_hits()
        try:
            result = getattr(worker, op)(*args)
            conn.send(("ok", result, _mutant_hits() - before))
        except Exception as err:   # noqa: BLE001 - reported to the parent
            conn.send(("error", type(err).__name__, str(err), _mutant_hits() - before))
    dist.destroy_process_group()


# ---- in the parent -------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pool:
    """``world`` worker processes in one gloo process group."""

    def __init__(self, world: int, device: str):
        ctx = torch.multiprocessing.get_context("spawn" if device == "cuda" else "fork")
        port, self.world, self.device = _free_port(), world, device
        self.conns, self.procs = [], []
        for rank in range(world):
            here, there = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(rank, world, port, there, os.getpid(), device), daemon=True,
                               name=f"layerconf-replica-{rank}")
            proc.start()
            there.close()
            self.conns.append(here)
            self.procs.append(proc)
        self._answers("init_process_group")

    def _answers(self, what):
        deadline, answers = time.monotonic() + TIMEOUT_S, []
        for rank, conn in enumerate(self.conns):
            try:
                ready = conn.poll(max(0.0, deadline - time.monotonic()))
                answer = conn.recv() if ready else None
            except (EOFError, OSError):
                answer = ("died",)
            if answer is None or answer[0] == "died":
                self.kill()
                state = "ended" if answer else f"gave no answer within {TIMEOUT_S:g} s"
                raise TimeoutError(f"replica {rank} of {self.world} {state} during {what}; every replica process "
                                   "was killed")
            answers.append(answer)
        _add_hits(sum(a[-1] for a in answers))
        return answers

    def call(self, op, per_rank_args):
        """op(*args) on every rank; the results in rank order, or the first rank's error (ReplicaError)."""
        for conn, args in zip(self.conns, per_rank_args):
            conn.send((op, args))
        answers = self._answers(op)
        errors = [(rank, a) for rank, a in enumerate(answers) if a[0] == "error"]
        if errors:
            rank, (_, kind, message, _) = errors[0]
            self.kill()   # a failed collective can leave the group unusable: the next call starts afresh
            raise ReplicaError(kind, message, rank)
        return [a[1] for a in answers]

    @property
    def alive(self) -> bool:
        return all(p.is_alive() for p in self.procs)

    def kill(self):
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()
        for proc in self.procs:
            proc.join(5)
        for conn in self.conns:
            conn.close()
        self.procs = []
        _POOLS.pop((self.world, self.device), None)

    def close(self):
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(None)
        for proc in self.procs:
            proc.join(5)
        self.kill()


def pool(world: int, device: str, fresh: bool = False) -> Pool:
    key = (world, device)
    if key in _POOLS and (fresh or not _POOLS[key].alive):
        _POOLS[key].kill()
    if key not in _POOLS:
        _POOLS[key] = Pool(world, device)
    return _POOLS[key]


@atexit.register
def shutdown() -> None:
    """Ends every pool (the suite's session end)."""
    for p in list(_POOLS.values()):
        p.close()


class TorchReplicas(Replicated):
    """One module per rank: kind 'sync' (SyncBatchNorm), 'local' (BatchNorm*d under DistributedDataParallel,
    ``wrapper`` its arguments) or 'dropout'; ``fresh``: a new pool (replicas started with no seeding)."""

    def __init__(self, kind, cls, channels, dtype, native, wrapper, replicas, device, fresh=False):
        self.pool = pool(replicas, device, fresh)
        self.replicas = replicas
        self.pool.call("build", [(kind, cls, channels, dtype, native, wrapper)] * replicas)

    def forward(self, parts, training, masks=None, dys=None, lr=0.0):
        if masks is not None:
            raise NotImplementedError("torch's SyncBatchNorm and BatchNorm take no mask")
        dys = dys or [None] * len(parts)
        return self.pool.call("forward", [(x, training, dy, lr) for x, dy in zip(parts, dys)])

    def states(self):
        return self.pool.call("state", [()] * self.replicas)

    def set_state(self, **arrays):
        self.pool.call("set_state", [(arrays,)] * self.replicas)

    def seed(self, seed):
        """torch.manual_seed(seed + rank) in each process: torch draws from each process's default generator, and
        nothing in torch.distributed seeds it per rank."""
        self.pool.call("seed", [(seed + rank,) for rank in range(self.replicas)])


def build(profile, config, device):
    """The Replicated of ``config`` under the torch profile's replicas section."""
    replicas, kind = config.sizes["replicas"], config.kind
    native = dict(config.native)
    if kind == "dropout":
        return TorchReplicas(kind, profile.get("replicas.dropout.class"), None, config.dtype, native, {}, replicas,
                             device, fresh=config.sizes.get("fresh", False))
    wrapper = {}
    if kind == "local":
        spelt = profile.get("replicas.local.arguments")
        wrapper = {spelt[w]["name"]: native.pop(spelt[w]["name"]) for w in spelt if spelt[w]["name"] in native}
    cls = profile.get(f"replicas.{kind}.layouts")[config.layout]
    return TorchReplicas(kind, cls, config.channels, config.dtype, native, wrapper, replicas, device)
