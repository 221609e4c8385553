"""Keras replicas on TensorFlow (Keras 3's tensorflow backend, tf_keras): ``tf.distribute.MirroredStrategy`` over R
logical devices of one process, run as TensorFlow's custom-training-loop guide runs it: the layer built under
``strategy.scope()``, each replica's part placed with ``strategy.experimental_distribute_values_from_function``,
one ``tf.function`` calling ``strategy.run`` (https://www.tensorflow.org/tutorials/distribute/custom_training); one
strategy per replica count for the process, as a training script has one.

Logical CPU devices exist only when ``tf.config.set_logical_device_configuration`` ran before TensorFlow started its
runtime: ``split_cpu(n)`` (the manifest's ``options.logical_cpus``), which the adapter calls before anything else.
Kinds: 'sync' BatchNormalization(synchronized=True), 'local' BatchNormalization() (each replica's own moments),
'dropout' the profile's dropout class. A training call of kind 'local' with ``dys`` is an optimizer step: each
replica's loss sum(dy * y) / R (the guide's scaling of a replica's loss to the global batch, since the strategy sums
the replicas' gradients), applied by keras.optimizers.SGD(lr) in the replica context. Each replica's state is read
from its own component of the mirrored variables (strategy.experimental_local_results), not assumed equal.
"""
import functools

import tensorflow as tf

from layerconf.adapters.base import Replicated
from layerconf.adapters.keras_common import STATE
from layerconf.reference.layout import channel_axis


def split_cpu(n: int) -> None:
    """Split the host CPU into ``n`` logical devices; a clear error when TensorFlow's runtime has already started."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    if len(tf.config.get_logical_device_configuration(cpu) or []) == n:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as e:
        raise RuntimeError(f"{n} logical CPUs for the replicas must be set before TensorFlow starts its runtime "
                           f"(the flavour's options.logical_cpus, applied when its adapter is made): {e}") from e


def devices(replicas: int, device: str) -> list[str]:
    """The first ``replicas`` logical devices of --device's kind; a clear error when there are fewer."""
    found = [d.name for d in tf.config.list_logical_devices({"cuda": "GPU"}.get(device, "CPU"))]
    if len(found) < replicas:
        raise RuntimeError(f"{replicas} replicas need {replicas} logical {device} devices; TensorFlow has {found} "
                           "(on CPU: the flavour's options.logical_cpus)")
    return found[:replicas]


@functools.cache
def strategy(replicas: int, device: str):
    """One MirroredStrategy per replica count for the whole process. Strategies share TensorFlow's collective keys
    unless told apart: two made for one count abort each other's all-reduces ("Collective instance 100 expected ...
    data_type 2 but got ... data_type 1"), and those of 2 and 3 replicas claim one group ("joining a group with
    size3, but that group has size 2"). A training script has one strategy; the suite has one per count, their keys
    apart by MirroredStrategy._collective_key_base, the class attribute TensorFlow's own tests set for this."""
    tf.distribute.MirroredStrategy._collective_key_base = 10_000 * replicas
    return tf.distribute.MirroredStrategy(devices=devices(replicas, device))


def variable(v):
    """The tf.Variable behind a Keras weight (Keras 3's KerasVariable holds it as .value; tf_keras's is one)."""
    return v if isinstance(v, tf.Variable) else v.value


class KerasReplicas(Replicated):
    """R replicas of the Keras layer ``cls`` (``native`` its arguments) under MirroredStrategy; ``runtime``:
    adapters.keras_common.KerasRuntime (Keras 3 or tf_keras); a BatchNormalization is built for ``layout``/``channels``."""

    def __init__(self, runtime, cls: str, native: dict, replicas: int, device: str, dtype: str, layout: str | None,
                 channels: int | None):
        self.keras, self.cls, self.native, self.replicas, self.dtype = runtime.keras, cls, native, replicas, dtype
        self.layout, self.channels = layout, channels
        self.strategy = strategy(replicas, device)
        self._build()

    def _build(self):
        self.steps, self.optimizer = {}, None
        with self.strategy.scope():
            self.layer = getattr(self.keras.layers, self.cls)(dtype=self.dtype, **self.native)
            if self.channels is not None:
                axis = channel_axis(self.layout)
                self.layer.build(tuple(self.channels if a == axis else None for a in range(len(self.layout))))

    def _distribute(self, arrays, dtype):
        tensors = [tf.constant(a, dtype=dtype) for a in arrays]
        return self.strategy.experimental_distribute_values_from_function(
            lambda ctx: tensors[ctx.replica_id_in_sync_group])

    def _step(self, training: bool, masked: bool, learn: bool):
        """The tf.function of one call on every replica, made once per (training, masked, learn)."""
        key = (training, masked, learn)
        if key not in self.steps:
            def one(x, mask, dy):
                extra = {"mask": mask} if masked else {}
                if not learn:
                    return self.layer(x, training=training, **extra)
                with tf.GradientTape() as tape:
                    y = self.layer(x, training=training, **extra)
                    loss = tf.reduce_sum(y * dy) / self.strategy.num_replicas_in_sync
                weights = self.layer.trainable_weights
                self.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
                return y

            self.steps[key] = tf.function(lambda x, mask, dy: self.strategy.run(one, args=(x, mask, dy)))
        return self.steps[key]

    def forward(self, parts, training, masks=None, dys=None, lr=0.0):
        if len(parts) != self.replicas:
            raise ValueError(f"{len(parts)} parts for {self.replicas} replicas")
        learn = dys is not None
        if learn:
            if self.optimizer is None:
                with self.strategy.scope():
                    self.optimizer, self.lr = self.keras.optimizers.SGD(learning_rate=lr), lr
            elif lr != self.lr:
                raise ValueError(f"the replicas' optimizer has learning rate {self.lr}, not {lr}")
        x = self._distribute(parts, self.dtype)
        mask = None if masks is None else self._distribute(masks, tf.bool)
        dy = self._distribute(dys, self.dtype) if learn else None
        y = self._step(bool(training), masks is not None, learn)(x, mask, dy)
        return [t.numpy() for t in self.strategy.experimental_local_results(y)]

    def states(self):
        names = {k: v for k, v in STATE.items() if hasattr(self.layer, v) and getattr(self.layer, v) is not None}
        per = {k: self.strategy.experimental_local_results(variable(getattr(self.layer, v))) for k, v in names.items()}
        return [{k: per[k][r].numpy() for k in per} for r in range(self.replicas)]

    def set_state(self, **arrays):
        for key, value in arrays.items():
            variable(getattr(self.layer, STATE[key])).assign(value)

    def seed(self, seed):
        """keras.utils.set_random_seed (Keras has no per-replica seeding), then the layer built anew from it."""
        self.keras.utils.set_random_seed(seed)
        self._build()
