"""The audit's Keras 2 part (the tf_keras package, TensorFlow eager): keras3.py's observation through tf_keras's API.

The same wrapping of each training-flag layer's ``call`` and the same restoring of every variable; what differs is
the package, TensorFlow's tensors and variables, the default step (tf.GradientTape and tf_keras.optimizers.SGD)
and the fixes: Keras 2's Functional model keeps a node's own ``training=False`` (keras#20285 is Keras 3's).
"""
import numpy as np

from layerconf.audit import keras3

SEPARATOR, KEPT, LR, expression = keras3.SEPARATOR, keras3.KEPT, keras3.LR, keras3.expression
DEFAULT_STEP = (f"default: model(x, training=True) with the mean of the squared outputs as the loss under "
                f"tf.GradientTape, one tf_keras.optimizers.SGD step (learning_rate {LR:g}) over model.trainable_variables")
FIXES = {
    **keras3.FIXES,
    "inference_layer_training": "call {part} with training=False inside the model (the transfer-learning guide's "
                                "base_model(x, training=False), in a Functional model or a subclassed call())",
    "inference_only_while_frozen": "call {part} with training=False, and keep its BatchNormalization layers "
                                   "trainable=False when you unfreeze {part}",
    "tiny_batch": "train with more examples per replica, BatchNormalization(synchronized=True) under a "
                  "tf.distribute strategy, or GroupNormalization",
}


def _check(flavour) -> str:
    import tensorflow as tf
    import tf_keras
    return f"tf_keras {tf_keras.__version__} on tensorflow {tf.__version__}"


def _tensor(batch):
    import tensorflow as tf
    return tf.convert_to_tensor(batch)


def _numpy(value):
    """A concrete tensor or variable as NumPy; a symbolic one (inside tf.function) raises."""
    return np.asarray(value.numpy())


def _dtype(value) -> str:
    import tensorflow as tf
    return tf.as_dtype(getattr(value, "dtype", value)).name


def default_step(model, batch) -> None:
    """DEFAULT_STEP."""
    import tensorflow as tf
    import tf_keras
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss = sum(tf.reduce_mean(tf.square(t)) for t in tf.nest.flatten(model(batch, training=True)))
    if variables:
        tf_keras.optimizers.SGD(learning_rate=LR).apply_gradients(zip(tape.gradient(loss, variables), variables))


API = keras3.Api("tf_keras", _check, _tensor, lambda variable: variable, _numpy, _dtype, default_step, DEFAULT_STEP)


def observe(flavour, target):
    """keras3.observe through tf_keras."""
    return keras3.observe(flavour, target, API)
