"""Replicas (data parallelism): R copies of a layer, each given its own part of the global batch, in float64.

A synchronized BatchNorm (torch SyncBatchNorm, Keras synchronized=True under a distribution strategy, Flax/Equinox
BatchNorm with axis_name) is BatchNorm of the global batch: in training every replica normalises its part with the
moments of the concatenation of all parts (mean and biased variance over the global count n = sum n_r, empty parts
contributing nothing), and every replica folds the same moments into its running statistics, the variance
corrected over the global count (n / (n - 1) under the 'unbiased' convention). In inference each replica normalises
its part with its own running statistics, which after synchronized steps are the same on every replica.

A BatchNorm that is not synchronized (torch BatchNorm*d under DistributedDataParallel) is one BatchNorm per replica
on its own part; ``broadcast`` (DDP broadcast_buffers=True) copies replica 0's running statistics to every replica
before the first call and before every call that follows a training call, as DDP does: its pre-forward broadcast
is armed by the previous forward having gradients on (require_forward_param_sync), so an evaluation under
torch.no_grad() right after a training step still receives replica 0's buffers, and the one after it does not.
Training calls run with gradients on, inference calls under no_grad, as users write them.

``moments`` names how the synchronized moments are combined: 'global' (the global batch's, as above) or
'replica_means' (Flax's ``lax.pmean`` of each replica's moments: mean = mean_r mean_r(x), var = mean_r E_r[x^2] -
mean^2, each replica's moments over the entries its mask keeps; the global batch's when every replica counts the
same entries, not otherwise).
"""
import numpy as np

from layerconf.reference.layout import channel_axis, reduction_axes
from layerconf.reference.models import BatchNorm


def sizes(parts) -> list[int]:
    """n_r, the examples (axis 0) of each replica's part."""
    return [int(np.shape(p)[0]) for p in parts]


def global_batch(parts):
    """The global batch: the replicas' parts concatenated along the batch axis, in replica order."""
    return np.concatenate([np.asarray(p, dtype=np.float64) for p in parts], axis=0)


def split(y, counts):
    """The global batch's rows back into the replicas' parts (``counts`` examples each)."""
    return np.split(np.asarray(y), np.cumsum(counts)[:-1], axis=0)


def global_count(parts, layout: str, masks=None) -> int:
    """n: the entries per channel of the global batch (batch x spatial), or the entries its masks keep."""
    if masks is not None:
        return int(sum(np.sum(m) for m in masks))
    return int(sum(np.prod([np.shape(p)[a] for a in reduction_axes(layout)]) for p in parts))


class Replicas:
    """R replicas of the reference BatchNorm (reference.models.BatchNorm), ``synchronized`` or one per replica;
    ``broadcast``: replica 0's running statistics are copied to every replica before the first call and before
    each call that follows a training call."""

    def __init__(self, replicas: int, make, *, synchronized: bool, broadcast: bool = False, moments: str = "global"):
        if moments not in ("global", "replica_means"):
            raise ValueError(f"moments must be 'global' or 'replica_means', got {moments!r}")
        self.models = [make() for _ in range(replicas)]
        self.synchronized, self.broadcast, self.armed, self.moments = synchronized, broadcast, True, moments

    def forward(self, parts, training: bool, masks=None):
        """Each replica's output on its part. Synchronized training: BatchNorm.forward on the global batch (its
        update folds the global moments, corrected over the global count, into every replica), split back."""
        if len(parts) != len(self.models):
            raise ValueError(f"{len(parts)} parts for {len(self.models)} replicas")
        if training and self.synchronized:
            whole = None if masks is None else global_batch(masks)
            if self.moments == "replica_means":   # every replica normalises with, and folds, the same moments
                fixed = replica_means(parts, self.models[0].layout, masks)
                for model in self.models:
                    model._moments = lambda x, mask, fixed=fixed: fixed
            try:
                y = self.models[0].forward(global_batch(parts), True, whole)
                for model in self.models[1:]:
                    model.forward(global_batch(parts), True, whole)   # the same update on every replica
            finally:
                for model in self.models:
                    model.__dict__.pop("_moments", None)
            return split(y, sizes(parts))
        if self.broadcast and self.armed:
            self.copy_running(0)
        self.armed = training
        return [m.forward(np.asarray(p, dtype=np.float64), training, None if masks is None else masks[r])
                for r, (m, p) in enumerate(zip(self.models, parts))]

    def copy_running(self, source: int = 0):
        """Every replica's running statistics := replica ``source``'s (a buffer broadcast)."""
        for model in self.models:
            model.running_mean = np.array(self.models[source].running_mean)
            model.running_var = np.array(self.models[source].running_var)

    def states(self) -> list[dict]:
        """Each replica's state (gamma, beta, running_mean, running_var)."""
        return [m.state() for m in self.models]


def replica_means(parts, layout: str, masks=None):
    """(mean, var, n) combined as lax.pmean combines each replica's moments: mean = (1/R) sum_r mean_r,
    var = (1/R) sum_r E_r[x^2] - mean^2 (mean_r, E_r over the entries replica r's mask keeps), n the global count."""
    from layerconf.reference import batchnorm
    firsts, seconds = [], []
    for r, p in enumerate(parts):
        p = np.asarray(p, dtype=np.float64)
        if masks is None:
            mean, var = batchnorm.batch_moments(p, layout)
        else:
            mean, var = batchnorm.masked_moments(p, masks[r], layout)
        firsts.append(mean)
        seconds.append(var + mean**2)
    mean = np.mean(firsts, axis=0)
    return mean, np.mean(seconds, axis=0) - mean**2, global_count(parts, layout, masks)


def averaged_gradients(parts, dys, gamma, eps: float, layout: str):
    """(dgamma, dbeta) averaged over the replicas, each of L_r = sum(dy_r * y_r) with y_r BatchNorm's training
    output on the replica's own part: the gradient a data-parallel wrapper applies (DDP all-reduces the gradients
    and divides by the world size)."""
    from layerconf.reference import batchnorm
    grads = [batchnorm.train_backward(p, gamma, eps, dy, layout)[1:] for p, dy in zip(parts, dys)]
    return tuple(np.mean([g[i] for g in grads], axis=0) for i in (0, 1))


def distinct_masks(masks) -> bool:
    """No two replicas drew the same mask."""
    flat = [np.asarray(m, dtype=bool).ravel() for m in masks]
    return all(not np.array_equal(flat[i], flat[j]) for i in range(len(flat)) for j in range(i + 1, len(flat)))


def identical_probability(size: int, rate: float) -> float:
    """P(two independent masks of ``size`` elements at ``rate`` are identical) = (rate^2 + (1 - rate)^2)^size."""
    return float((rate**2 + (1 - rate) ** 2) ** size)


def mask_of(x, layout: str):
    """A mask of all True of x's shape without the channel axis (every entry counts)."""
    shape = list(np.shape(x))
    del shape[channel_axis(layout)]
    return np.ones(shape, dtype=bool)


def reference(replicas: int, eps: float, decay, layout: str, conventions, *, synchronized: bool = True,
              broadcast: bool = False, moments: str = "global", **state):
    """Replicas of BatchNorm(eps, decay, layout, conventions) holding ``state`` (gamma, beta, running_mean,
    running_var), fresh where no running statistics are given."""
    fresh = "running_mean" not in state
    return Replicas(replicas, lambda: BatchNorm(eps, decay, layout, conventions, fresh=fresh, **state),
                    synchronized=synchronized, broadcast=broadcast, moments=moments)
