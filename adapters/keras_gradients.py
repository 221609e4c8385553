"""Vector-Jacobian products of one Keras layer call, one function per backend.

``backend_vjp(backend, layer, x, dy, **call_args)`` calls ``layer(x, **call_args)`` (e.g. training=True) the way that backend's
users differentiate it and returns (y, dL/dx, [dL/dv for v in layer.trainable_variables]) for
L = sum(dy * y). State the call changes (moving statistics, seed generator) is written back to the
layer, as a plain call would. ``x`` and ``dy`` are backend tensors.
"""


def _tensorflow(layer, x, dy, call_args):
    """tf.GradientTape around the call (Keras 3 on TensorFlow, and tf_keras)."""
    import tensorflow as tf

    variables = layer.trainable_variables
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, **call_args)
    dx, *dv = tape.gradient(y, [x, *variables], output_gradients=tf.cast(dy, y.dtype))
    return y, dx, dv


def _jax(layer, x, dy, call_args):
    """jax.vjp of layer.stateless_call; the new non-trainable values are assigned afterwards."""
    import jax

    if not layer.built:   # stateless_call needs a built layer; Dropout was built only by a first call before 3.10
        layer.build(x.shape)
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def call(x, trainable):
        return layer.stateless_call(trainable, non_trainable, x, **call_args)

    y, pullback, updated = jax.vjp(call, x, [v.value for v in layer.trainable_variables], has_aux=True)
    dx, dv = pullback(dy.astype(y.dtype))
    for variable, value in zip(layer.non_trainable_variables, updated):
        variable.assign(value)
    return y, dx, list(dv)


def _torch(layer, x, dy, call_args):
    """torch.autograd.grad of the call with respect to x and the variables' torch parameters."""
    import torch

    x = x.detach().requires_grad_(True)
    parameters = [v.value for v in layer.trainable_variables]
    y = layer(x, **call_args)
    dx, *dv = torch.autograd.grad(y, [x, *parameters], grad_outputs=dy.to(y.dtype), allow_unused=True)
    return y, dx, dv


BACKENDS = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}


def backend_vjp(backend: str, layer, x, dy, **call_args):
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {backend!r}")
    return BACKENDS[backend](layer, x, dy, call_args)


def call_args(training) -> dict:
    """The call's keyword arguments: training=None means the argument is omitted."""
    return {} if training is None else {"training": training}


def vjp(flavour, layer, x, dy, dtype, **call_args):
    """backend_vjp on NumPy input of ``dtype`` (a Flavour converts it)."""
    return backend_vjp(flavour.backend, layer, flavour.tensor(x, dtype), flavour.tensor(dy, dtype), **call_args)


def sgd(flavour, lr, grads, variables):
    """One step of the framework's SGD over ``variables`` (none, for a frozen layer: nothing to update)."""
    if variables:
        flavour.keras.optimizers.SGD(learning_rate=lr).apply_gradients(zip(grads, variables))
