"""Flax nnx replicas under nnx's own lifted transforms (profile replicas.starts 'nnx.pmap' and 'nnx.shard_map'): the
user's stateful nnx.BatchNorm(axis_name='batch') or nnx.Dropout object is passed to the transformed step, which writes
its new state back into the object; each replica's state is read from it.

- ``nnx.pmap``: the module created under ``nnx.split_rngs(splits=R)`` and ``nnx.pmap(axis_size=R)`` (flax's
  tests/nnx/transforms_test.py TestPmap), so each variable has a leading replica axis, row r on device r; the step is
  ``nnx.pmap(step, axis_name='batch', devices=...)`` over the module and the stacked parts. Dropout unseeded: one
  module (one rng stream) broadcast to every replica, ``in_axes=(nnx.StateAxes({...: None}), 0, 0)``.
- ``nnx.shard_map``: one module replicated over the mesh, ``nnx.jit(nnx.shard_map(step, mesh=Mesh(devices,
  ('batch',)), in_specs=(P(), P('batch'), P('batch')), out_specs=P('batch')))`` (nnx.shard_map's data-parallel example,
  jitted as a training step is): the variables written back are global arrays replicated over the mesh, each device's copy
  read from its shard; out spec P() promises equal copies, so moments that differ between replicas are an error when
  the step is traced. Dropout per replica: one key per replica from jax.random.split, sharded P('batch') and passed at
  call as ``rngs=``: an rng stream split with nnx.split_rngs and sharded P('batch') reaches each replica as a key of
  shape (1,), which the stream refuses ("fold_in accepts a single key"); unseeded: the module's own stream.

Inputs are placed as adapters/jax_replicas.py places them (np.stack for pmap, a global array from the parts for
shard_map); the state is held in the parameters' dtype.
"""
import functools

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from layerconf.adapters import _jax
from layerconf.adapters.base import Replicated
from layerconf.adapters.flax_nnx import STATE, _replace
from layerconf.adapters.jax_replicas import AXIS, host_devices, stacked

STARTS = ("nnx.pmap", "nnx.shard_map")


def _bn(bn, x, mask):
    return bn(x, mask=mask)


def _dropout(drop, x, key):
    """The module's own stream (key None), or this replica's key given at call (its shard of shape (1,))."""
    return drop(x) if key is None else drop(x, rngs=nnx.Rngs(dropout=key[0]))


@functools.cache
def step(start: str, fn, devices: tuple, broadcast: bool = False):
    """The transformed step fn(module, x, mask_or_key) of ``start`` over ``devices``; ``broadcast``: the module's
    state goes to every replica whole (nnx.pmap only)."""
    if start == "nnx.pmap":
        module_axes = nnx.StateAxes({...: None}) if broadcast else 0
        return nnx.pmap(fn, axis_name=AXIS, in_axes=(module_axes, 0, 0), devices=list(devices))
    if start != "nnx.shard_map":
        raise ValueError(f"start must be one of {STARTS}, got {start!r}")
    mesh = Mesh(np.array(devices), (AXIS,))
    return nnx.jit(nnx.shard_map(fn, mesh=mesh, in_specs=(P(), P(AXIS), P(AXIS)), out_specs=P(AXIS)))


def created(make, start: str, devices: tuple, seed: int = 0, split: bool = True):
    """make(rngs) as the start's users create it: under nnx.split_rngs + nnx.pmap (one copy per device) for
    nnx.pmap with ``split``, else once (replicated by the transform)."""
    if start == "nnx.pmap" and split:
        return nnx.split_rngs(splits=len(devices))(nnx.pmap(make, axis_size=len(devices), devices=list(devices)))(
            nnx.Rngs(seed))
    return make(nnx.Rngs(seed))


class NnxReplicas(Replicated):
    """R replicas of one nnx module: ``make(rngs)`` builds it (nnx.BatchNorm(..., axis_name='batch') or nnx.Dropout,
    ``batchnorm`` says which), ``channel_axis`` where a mask gets its channel axis back, ``seeded`` (dropout): a
    different stream per replica, else one for all."""

    def __init__(self, make, batchnorm: bool, replicas: int, start: str, device: str, dtype: str,
                 channel_axis: int | None = None, seeded: bool = True):
        self.make, self.batchnorm, self.replicas, self.start, self.dtype = make, batchnorm, replicas, start, dtype
        self.devices, self.channel_axis, self.seeded = host_devices(replicas, device), channel_axis, seeded
        self.mesh = Mesh(np.array(self.devices), (AXIS,)) if start == "nnx.shard_map" else None
        self.param_dtype = _jax.dtypes(dtype)["param_dtype"]
        self.seed(0, seeded)

    def forward(self, parts, training, masks=None, dys=None, lr=0.0):
        if dys is not None:
            raise NotImplementedError("nnx replicas here run the synchronized layer and dropout only")
        if len(parts) != self.replicas:
            raise ValueError(f"{len(parts)} parts for {self.replicas} replicas")
        self.module.train() if training else self.module.eval()
        xs = stacked([_jax.to_jax(p, self.dtype) for p in parts], self.devices, self.mesh)
        if self.batchnorm:
            extra = None if masks is None else stacked(
                [np.expand_dims(np.asarray(m, dtype=bool), self.channel_axis) for m in masks], self.devices, self.mesh)
            y = step(self.start, _bn, self.devices)(self.module, xs, extra)
        else:
            extra = None
            if self.seeded and self.mesh is not None:   # nnx.shard_map: this call's keys, one per replica
                self.key, key = jax.random.split(self.key)
                extra = jax.random.split(key, self.replicas)
            y = step(self.start, _dropout, self.devices, not self.seeded and self.mesh is None)(self.module, xs, extra)
        if self.mesh is None:
            return [_jax.to_numpy(a) for a in y]
        return np.split(_jax.to_numpy(y), np.cumsum([np.shape(p)[0] for p in parts])[:-1])

    def _copies(self, value) -> list:
        """Each replica's copy of a variable: row r (nnx.pmap), or device r's shard of the replicated array."""
        if self.mesh is None:
            return list(_jax.to_numpy(value))
        shards = {s.device: s.data for s in value.addressable_shards}
        return [_jax.to_numpy(shards[d]) for d in self.devices]

    def states(self):
        if not self.batchnorm:
            return [{} for _ in range(self.replicas)]
        copies = {k: self._copies(getattr(self.module, name)[...]) for k, name in STATE.items()}
        return [{k: v[r] for k, v in copies.items()} for r in range(self.replicas)]

    def set_state(self, **arrays):
        for key, value in arrays.items():
            if key not in STATE or not self.batchnorm:
                raise KeyError(f"{key}: the replicas' state holds {sorted(STATE) if self.batchnorm else []}")
            value = np.asarray(value, dtype=self.param_dtype)   # a copy per device, as the start holds it
            value = (np.stack([value] * self.replicas) if self.mesh is None
                     else jax.device_put(value, NamedSharding(self.mesh, P())))
            _replace(getattr(self.module, STATE[key]), value)

    def seed(self, seed, seeded=True):
        """A new module from ``seed`` (its rngs), and the key of the explicit per-replica keys (nnx.shard_map)."""
        self.seeded, self.key = seeded, jax.random.key(seed)
        self.module = created(self.make, self.start, self.devices, seed, split=self.batchnorm or seeded)


def build(config, start: str, device: str):
    """The replicas of ``config`` (kind sync or dropout) under ``start``: nnx.BatchNorm(C, axis=..., axis_name='batch',
    **config.native, dtypes) or nnx.Dropout(**config.native)."""
    n, native = config.sizes["replicas"], config.native
    if config.kind == "dropout":
        return NnxReplicas(lambda rngs: nnx.Dropout(**native, rngs=rngs), False, n, start, device, config.dtype,
                           seeded=not config.sizes.get("fresh", False))
    if config.kind != "sync":
        raise NotImplementedError(f"flax nnx has no {config.kind!r} replicas (profile replicas.local)")
    axis = _jax.channel_axis(config.layout)

    def make(rngs):
        return nnx.BatchNorm(config.channels, axis=axis, axis_name=AXIS, **native, **_jax.dtypes(config.dtype), rngs=rngs)
    return NnxReplicas(make, True, n, start, device, config.dtype, axis)
