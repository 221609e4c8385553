"""Keras replicas on JAX: ``keras.distribution.DataParallel`` over R host devices of one process, as Keras's
distribution guide runs it (https://keras.io/guides/distribution/): the layer built under the distribution's scope
(its variables replicated on every device), the global batch one array sharded along the batch axis by the
distribution's data layout, the replicas' parts its shards (``jax.make_array_from_single_device_arrays``, as a
per-device input pipeline does). The layer is called eagerly on the global array: XLA computes every reduction over
the whole batch, so a BatchNormalization's moments are the global batch's with no argument asking for it.

Host devices exist only when XLA_FLAGS=--xla_force_host_platform_device_count=N was set before jax was imported
(the flavour's manifest environment). The parts share one shape (one global array). Each replica's state is read
from its own device's copy of the replicated variables, not assumed equal.
"""
import jax
import numpy as np

from layerconf.adapters.base import Replicated
from layerconf.adapters.jax_replicas import host_devices
from layerconf.adapters.keras_common import STATE
from layerconf.reference.layout import channel_axis


class KerasDataParallel(Replicated):
    """R replicas of the Keras layer ``cls`` (``native`` its arguments) under DataParallel; ``runtime``:
    adapters.keras_common.KerasRuntime (JAX backend); a BatchNormalization is built for ``layout``/``channels``."""

    def __init__(self, runtime, cls: str, native: dict, replicas: int, device: str, dtype: str, layout: str | None,
                 channels: int | None):
        self.runtime, self.cls, self.native, self.dtype = runtime, cls, native, dtype
        self.layout, self.channels = layout, channels
        self.devices = host_devices(replicas, device)
        self.distribution = runtime.keras.distribution.DataParallel(devices=list(self.devices))
        self._build()

    def _build(self):
        with self.distribution.scope():
            self.layer = getattr(self.runtime.keras.layers, self.cls)(dtype=self.dtype, **self.native)
            if self.channels is not None:
                axis = channel_axis(self.layout)
                self.layer.build(tuple(self.channels if a == axis else None for a in range(len(self.layout))))

    def _global(self, parts, dtype):
        """The parts as one global array, part r the shard on device r (the distribution's data layout)."""
        arrays = [np.asarray(p, dtype=dtype) for p in parts]
        shape = (sum(len(a) for a in arrays), *arrays[0].shape[1:])
        if any(a.shape != arrays[0].shape for a in arrays):
            raise ValueError(f"DataParallel shards one global batch evenly: parts of shapes {[a.shape for a in arrays]}")
        sharding = self.distribution.get_data_layout(shape).backend_layout
        return jax.make_array_from_single_device_arrays(
            shape, sharding, [jax.device_put(a, d) for a, d in zip(arrays, self.devices)])

    def _shards(self, array):
        """Each device's copy (replicated) or block (sharded) of ``array``, in replica order."""
        by_device = {s.device: np.asarray(s.data) for s in array.addressable_shards}
        return [by_device[d] for d in self.devices]

    def forward(self, parts, training, masks=None, dys=None, lr=0.0):
        if dys is not None:
            raise NotImplementedError("under DataParallel every BatchNormalization is synchronized: no local step")
        if len(parts) != len(self.devices):
            raise ValueError(f"{len(parts)} parts for {len(self.devices)} replicas")
        with self.distribution.scope():
            extra = {} if masks is None else {"mask": self._global(masks, bool)}
            y = self.layer(self._global(parts, self.dtype), training=training, **extra)
        return self._shards(y)

    def states(self):
        names = {k: v for k, v in STATE.items() if getattr(self.layer, v, None) is not None}
        per = {k: self._shards(getattr(self.layer, v).value) for k, v in names.items()}
        return [{k: per[k][r] for k in per} for r in range(len(self.devices))]

    def set_state(self, **arrays):
        for key, value in arrays.items():
            getattr(self.layer, STATE[key]).assign(np.asarray(value, dtype=self.dtype))

    def seed(self, seed):
        """keras.utils.set_random_seed, then the layer built anew from it (one draw over the global batch)."""
        self.runtime.keras.utils.set_random_seed(seed)
        self._build()
