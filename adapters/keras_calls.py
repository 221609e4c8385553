"""One Keras layer (or model) called, differentiated and stepped the way its backend's users do: eagerly or compiled.

``calls(runtime, layer)`` binds the three calls an adapter makes of ``layer``; ``call_args`` are the call's
keyword arguments (training=..., mask=...; training=None omits the flag, see ``call_args``):
- ``call(x, **call_args)`` -> y, the layer called on x;
- ``vjp(x, dy, **call_args)`` -> (y, dL/dx, [dL/dv for v in layer.trainable_variables]) for L = sum(dy * y);
- ``step(x, dy, lr, **call_args)`` -> (y, dL/dx): the vjp, then one step of keras.optimizers.SGD(lr) over
  layer.trainable_variables (none, for a frozen layer: nothing to update).
State a call changes (moving statistics, the SeedGenerator's state) ends up in the layer's variables, as a plain
call leaves it. Tensors in and out are the backend's.

``runtime.execution`` picks how:
- "eager": the layer called directly; gradients by tf.GradientTape (TensorFlow, and tf_keras), by jax.vjp of
  layer.stateless_call with the new non-trainable values assigned afterwards (JAX), by torch.autograd.grad
  (torch); SGD(lr).apply_gradients.
- "tf.function(jit_compile=True)": each of the three is one tf.function compiled by XLA, the training flag a
  Python value in its trace key (one trace per value), the step's optimizer built before the trace (a
  tf.function creates no variables after its first trace).
- "jax.jit": each of the three is jax.jit over layer.stateless_call(trainable, non_trainable, x, ...), the flag
  static; the compiled function returns the new non-trainable values (moving statistics, the SeedGenerator's
  state), which are assigned to the layer after the call, as JAX users thread state; the step applies
  optimizer.stateless_apply inside the compiled function and assigns the new trainable values.
A trace reads the layer's Python attributes once (trainable among them): after freezing, the adapter binds new
calls, as Keras compiles a model again after freezing.
"""
import functools


def call_args(training) -> dict:
    """The call's keyword arguments: training=None means the argument is omitted."""
    return {} if training is None else {"training": training}


def _tensorflow_vjp(layer, x, dy, call_args):
    """tf.GradientTape around the call."""
    import tensorflow as tf

    variables = layer.trainable_variables
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, **call_args)
    dx, *dv = tape.gradient(y, [x, *variables], output_gradients=tf.cast(dy, y.dtype))
    return y, dx, dv


def _jax_vjp(layer, trainable, non_trainable, x, dy, call_args):
    """(y, dL/dx, dL/dtrainable, new non-trainable values): jax.vjp of layer.stateless_call, a pure function."""
    import jax

    def call(x, trainable):
        return layer.stateless_call(trainable, non_trainable, x, **call_args)

    y, pullback, updated = jax.vjp(call, x, trainable, has_aux=True)
    dx, dv = pullback(dy.astype(y.dtype))
    return y, dx, list(dv), updated


def _torch_vjp(layer, x, dy, call_args):
    """torch.autograd.grad of the call with respect to x and the variables' torch parameters."""
    import torch

    x = x.detach().requires_grad_(True)
    parameters = [v.value for v in layer.trainable_variables]
    y = layer(x, **call_args)
    dx, *dv = torch.autograd.grad(y, [x, *parameters], grad_outputs=dy.to(y.dtype), allow_unused=True)
    return y, dx, dv


def _values(variables):
    return [v.value for v in variables]


def _assign(variables, values):
    for variable, value in zip(variables, values):
        variable.assign(value)


def _state(layer, x):
    """(trainable values, non-trainable values) of ``layer``, built for ``x`` first: stateless_call needs a built
    layer, and Dropout was built only by a first call before Keras 3.10."""
    if not layer.built:
        layer.build(x.shape)
    return _values(layer.trainable_variables), _values(layer.non_trainable_variables)


class _Eager:
    def __init__(self, runtime, layer):
        self.runtime, self.layer = runtime, layer

    def call(self, x, **call_args):
        return self.layer(x, **call_args)

    def vjp(self, x, dy, **call_args):
        backend, layer = self.runtime.backend, self.layer
        if backend == "tensorflow":
            return _tensorflow_vjp(layer, x, dy, call_args)
        if backend == "torch":
            return _torch_vjp(layer, x, dy, call_args)
        y, dx, dv, updated = _jax_vjp(layer, *_state(layer, x), x, dy, call_args)
        _assign(layer.non_trainable_variables, updated)
        return y, dx, dv

    def step(self, x, dy, lr, **call_args):
        variables = self.layer.trainable_variables
        y, dx, dv = self.vjp(x, dy, **call_args)
        if variables:
            self.runtime.keras.optimizers.SGD(learning_rate=lr).apply_gradients(zip(dv, variables))
        return y, dx


class _Compiled:
    """One compiled function per kind (call, vjp, step with its learning rate), made at its first use."""

    def __init__(self, runtime, layer):
        self.runtime, self.layer, self.functions = runtime, layer, {}

    def _function(self, *kind):
        if kind not in self.functions:
            self.functions[kind] = self._compile(*kind)
        return self.functions[kind]

    def _optimizer(self, lr):
        """SGD(lr), its variables made before any trace."""
        optimizer = self.runtime.keras.optimizers.SGD(learning_rate=lr)
        optimizer.build(self.layer.trainable_variables)
        return optimizer

    def call(self, x, **call_args):
        return self._function("call")(x, **call_args)

    def vjp(self, x, dy, **call_args):
        return self._function("vjp")(x, dy, **call_args)

    def step(self, x, dy, lr, **call_args):
        return self._function("step", lr)(x, dy, **call_args)


class _TensorflowXLA(_Compiled):
    def _compile(self, kind, lr=None):
        import tensorflow as tf

        layer = self.layer
        if kind == "call":
            return tf.function(lambda x, **call_args: layer(x, **call_args), jit_compile=True)
        if kind == "vjp":
            return tf.function(lambda x, dy, **call_args: _tensorflow_vjp(layer, x, dy, call_args), jit_compile=True)
        variables, optimizer = layer.trainable_variables, self._optimizer(lr)

        def step(x, dy, **call_args):
            y, dx, dv = _tensorflow_vjp(layer, x, dy, call_args)
            if variables:
                optimizer.apply_gradients(zip(dv, variables))
            return y, dx
        return tf.function(step, jit_compile=True)


class _JaxJit(_Compiled):
    def _compile(self, kind, lr=None):
        """A function of (x, ...) that runs the jitted one on the layer's current values and assigns what it returns."""
        import jax

        layer = self.layer
        jit = functools.partial(jax.jit, static_argnames=("training",))
        if kind == "call":
            call = jit(lambda trainable, non_trainable, x, **call_args:
                       layer.stateless_call(trainable, non_trainable, x, **call_args))

            def function(x, **call_args):
                y, updated = call(*_state(layer, x), x, **call_args)
                _assign(layer.non_trainable_variables, updated)
                return y
        elif kind == "vjp":
            vjp = jit(lambda trainable, non_trainable, x, dy, **call_args:
                      _jax_vjp(layer, trainable, non_trainable, x, dy, call_args))

            def function(x, dy, **call_args):
                y, dx, dv, updated = vjp(*_state(layer, x), x, dy, **call_args)
                _assign(layer.non_trainable_variables, updated)
                return y, dx, dv
        else:
            optimizer = self._optimizer(lr)

            @jit
            def step(trainable, non_trainable, optimizer_variables, x, dy, **call_args):
                y, dx, dv, updated = _jax_vjp(layer, trainable, non_trainable, x, dy, call_args)
                trainable, optimizer_variables = optimizer.stateless_apply(optimizer_variables, dv, trainable)
                return y, dx, trainable, updated, optimizer_variables

            def function(x, dy, **call_args):
                y, dx, trainable, updated, optimizer_variables = step(
                    *_state(layer, x), _values(optimizer.variables), x, dy, **call_args)
                _assign(layer.trainable_variables, trainable)
                _assign(layer.non_trainable_variables, updated)
                _assign(optimizer.variables, optimizer_variables)
                return y, dx
        return function


COMPILED = {("tensorflow", "tf.function(jit_compile=True)"): _TensorflowXLA, ("jax", "jax.jit"): _JaxJit}


def calls(runtime, layer):
    """The calls of ``layer`` under ``runtime``'s backend and execution."""
    if runtime.execution == "eager":
        return _Eager(runtime, layer)
    return COMPILED[runtime.backend, runtime.execution](runtime, layer)
