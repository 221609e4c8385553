"""JAX replicas (Flax linen, Flax nnx, Equinox): R host devices of one process, each running the same per-replica
program on its own part, the layer's ``axis_name`` the mapped axis ``'batch'``, started the two ways JAX users start
them (profile replicas.starts):

- ``pmap``: ``jax.pmap(step, axis_name='batch', devices=...)`` over inputs whose leading axis is the replica (the
  parts stacked with np.stack, the state stacked R times as flax.jax_utils.replicate does);
- ``shard_map``: ``jax.jit(shard_map(step, mesh=Mesh(devices, ('batch',)), in_specs=P('batch'),
  out_specs=P('batch')))`` over a global array assembled from the parts with
  ``jax.make_array_from_single_device_arrays`` (as a multi-host input pipeline does), the state stacked likewise.

Host devices exist only when XLA_FLAGS=--xla_force_host_platform_device_count=N was set before jax was imported:
the flavour's manifest environment, so the flavour runs in a process of its own. Each replica holds its own copy of
the state (leading axis R in and out), so "the same statistics on every replica" is read, not assumed; the state is
held in the parameters' dtype (float64 for float64 input, as the single-layer adapters write it).

A framework module supplies ``body(static, state, x, mask, key, training) -> (y, state)``: one replica's call with
the neutral state (gamma, beta, running_mean, running_var; {} for dropout), ``static`` hashable (the layer's
configuration). Compiled programs are kept per (body, static, start, devices, training, masked).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from layerconf.adapters import _jax
from layerconf.adapters.base import Replicated

try:
    from jax import shard_map
except ImportError:   # jax < 0.7: shard_map lived in jax.experimental
    from jax.experimental.shard_map import shard_map

AXIS = "batch"
STARTS = ("pmap", "shard_map")


def host_devices(replicas: int, device: str) -> tuple:
    """The first ``replicas`` devices of --device's platform; a clear error when the process has fewer."""
    found = jax.devices({"cuda": "gpu"}.get(device, device))
    if len(found) < replicas:
        raise RuntimeError(f"{replicas} replicas need {replicas} {device} devices; jax sees {len(found)} "
                           "(on CPU: XLA_FLAGS=--xla_force_host_platform_device_count=N before jax is imported, "
                           "the flavour's manifest environment)")
    return tuple(found[:replicas])


def stacked(arrays, devices, mesh=None):
    """Per-replica arrays as one input with the replica axis, placed as users place them: stacked for pmap, a global
    array sharded over the mesh (its blocks the arrays on ``devices``, concatenated along axis 0) for shard_map."""
    if mesh is None:
        return np.stack(arrays)
    shape = (sum(np.shape(a)[0] for a in arrays), *np.shape(arrays[0])[1:])
    return jax.make_array_from_single_device_arrays(
        shape, NamedSharding(mesh, P(AXIS)), [jax.device_put(a, d) for a, d in zip(arrays, devices)])


@functools.cache
def program(body, static, start: str, devices: tuple, training: bool, masked: bool):
    """The compiled replica program: f(state, x, mask, keys) -> (y, state), every argument with the replica axis."""
    def one(state, x, mask, key):
        return body(static, state, x, mask if masked else None, key, training)

    if start == "pmap":
        return jax.pmap(one, axis_name=AXIS, devices=list(devices))
    if start != "shard_map":
        raise ValueError(f"start must be one of {STARTS}, got {start!r}")
    mesh = Mesh(np.array(devices), (AXIS,))

    def block(state, x, mask, key):   # state and key arrive with a leading axis of 1: this replica's copy
        y, new = one(jax.tree.map(lambda a: a[0], state), x, mask, key[0])
        return y, jax.tree.map(lambda a: a[None], new)
    return jax.jit(shard_map(block, mesh=mesh, in_specs=P(AXIS), out_specs=P(AXIS))), mesh


class JaxReplicas(Replicated):
    """R replicas of one framework layer: ``body`` and ``static`` as the module docstring says, ``state`` the neutral
    state every replica starts from, ``channel_axis`` where a mask gets its channel axis back (broadcast)."""

    def __init__(self, body, static, state: dict, replicas: int, start: str, device: str, dtype: str,
                 channel_axis: int | None = None, seeded: bool = True):
        self.body, self.static, self.replicas, self.start = body, static, replicas, start or "pmap"
        self.devices, self.dtype, self.channel_axis = host_devices(replicas, device), dtype, channel_axis
        self.param_dtype = np.float64 if dtype == "float64" else np.float32   # as _jax.dtypes' param_dtype
        self.state = {k: np.stack([np.asarray(v, dtype=self.param_dtype if np.ndim(v) else None)] * replicas)
                      for k, v in state.items()}   # a scalar (a step count) keeps its own dtype
        self.key, self.seeded = jax.random.key(0), seeded

    def _keys(self):
        """One dropout key per replica for this call: split from the call's key as flax.training.common_utils.
        shard_prng_key does (seeded), or the call's key on every replica (unseeded: one key passed to all)."""
        self.key, key = jax.random.split(self.key)
        return jax.random.split(key, self.replicas) if self.seeded else jnp.stack([key] * self.replicas)

    def forward(self, parts, training, masks=None, dys=None, lr=0.0):
        if dys is not None:
            raise NotImplementedError("JAX replicas here run the synchronized layer and dropout only")
        if len(parts) != self.replicas:
            raise ValueError(f"{len(parts)} parts for {self.replicas} replicas")
        compiled = program(self.body, self.static, self.start, self.devices, bool(training), masks is not None)
        mesh = None
        if self.start == "shard_map":
            compiled, mesh = compiled
        xs = [_jax.to_jax(p, self.dtype) for p in parts]
        ms = None if masks is None else [np.expand_dims(np.asarray(m, dtype=bool), self.channel_axis) for m in masks]
        state = self.state if mesh is None else jax.device_put(self.state, NamedSharding(mesh, P(AXIS)))
        keys = self._keys()
        if mesh is not None:
            keys = jax.device_put(keys, NamedSharding(mesh, P(AXIS)))
        y, new = compiled(state, stacked(xs, self.devices, mesh),
                          None if ms is None else stacked(ms, self.devices, mesh), keys)
        if training:
            self.state = {k: _jax.to_numpy(v) for k, v in new.items()}
        if mesh is None:
            return [_jax.to_numpy(a) for a in y]
        return np.split(_jax.to_numpy(y), np.cumsum([np.shape(x)[0] for x in xs])[:-1])

    def states(self):
        return [{k: v[r] for k, v in self.state.items()} for r in range(self.replicas)]

    def set_state(self, **arrays):
        for key, value in arrays.items():
            if key not in self.state:
                raise KeyError(f"{key}: the replicas' state holds {sorted(self.state)}")
            self.state[key] = np.stack([np.asarray(value, dtype=self.param_dtype)] * self.replicas)

    def seed(self, seed):
        self.key, self.seeded = jax.random.key(seed), True


def start_of(config) -> str:
    """The start a check asks for (config.sizes['start']; pmap when it names none)."""
    return config.sizes.get("start") or "pmap"
