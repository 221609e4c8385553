"""The FlagModel of adapters/base.py with the public Keras API (Keras 3 and tf_keras alike).

inputs -> base = keras.Model(Input, BatchNormalization(Input)) called as base(h) or
base(h, training=flag) -> Dense(1) -> output; compiled with loss="mse" and keras.optimizers.SGD(lr), and
jit_compile=True on a compiled runtime (fit, predict, evaluate, train_on_batch compiled: XLA on TensorFlow,
jax.jit on JAX; Keras falls back to jit_compile=False, with a warning, for a model it cannot compile, which
the adapter refuses). Direct calls of the model and of the layer run as adapters/keras_calls.py says.
"""
from layerconf.adapters.base import FlagModel
from layerconf.adapters.keras_calls import call_args, calls

DTYPE = "float32"


class KerasFlagModel(FlagModel):
    def __init__(self, runtime, channels: int, base_training, lr: float, native: dict):
        keras = runtime.keras
        self.runtime, self.lr = runtime, lr
        inputs = keras.Input((channels,))
        self.bn = keras.layers.BatchNormalization(**native)
        self.base = keras.Model(inputs, self.bn(inputs), name="base")
        outer = keras.Input((channels,))
        self.head = keras.layers.Dense(1)
        self.model = keras.Model(outer, self.head(self.base(outer, **call_args(base_training))))
        self._compile()

    def _compile(self):
        """model.compile, and the direct calls bound anew: a compiled one reads trainable when it is traced."""
        self.model_calls, self.bn_calls = calls(self.runtime, self.model), calls(self.runtime, self.bn)
        compiled = self.runtime.execution != "eager"
        self.model.compile(optimizer=self.runtime.keras.optimizers.SGD(learning_rate=self.lr), loss="mse",
                           **({"jit_compile": True} if compiled else {}))
        if compiled and not self.model.jit_compile:
            raise RuntimeError(f"{self.runtime.execution}: Keras refused jit_compile=True for the FlagModel")

    def _variables(self):
        return {"running_mean": self.bn.moving_mean, "running_var": self.bn.moving_variance,
                "gamma": self.bn.gamma, "beta": self.bn.beta, "kernel": self.head.kernel, "bias": self.head.bias}

    def state(self):
        return {k: self.runtime.numpy(v) for k, v in self._variables().items()}

    def set_state(self, **arrays):
        variables = self._variables()
        for key, value in arrays.items():
            variables[key].assign(self.runtime.tensor(value, DTYPE))

    def set_trainable(self, part, value):
        parts = {"base": self.base, "bn": self.bn}
        if part not in parts:
            raise ValueError(f"part must be one of {sorted(parts)}, got {part!r}")
        parts[part].trainable = value
        self._compile()

    def train(self, x, t, method):
        x, t = self.runtime.tensor(x, DTYPE), self.runtime.tensor(t, DTYPE)
        if method == "fit":
            history = self.model.fit(x, t, batch_size=int(x.shape[0]), epochs=1, shuffle=False, verbose=0)
            return float(history.history["loss"][0])
        if method == "train_on_batch":
            return float(self.model.train_on_batch(x, t))
        raise ValueError(f"method must be 'fit' or 'train_on_batch', got {method!r}")

    def predict(self, x):
        return self.model.predict(self.runtime.tensor(x, DTYPE), batch_size=len(x), verbose=0)

    def evaluate(self, x, t):
        return float(self.model.evaluate(self.runtime.tensor(x, DTYPE), self.runtime.tensor(t, DTYPE),
                                         batch_size=len(x), verbose=0))

    def call(self, x, training):
        return self.runtime.numpy(self.model_calls.call(self.runtime.tensor(x, DTYPE), **call_args(training)))

    def bn_step(self, x, dy, lr, training):
        tensor = self.runtime.tensor
        y, _ = self.bn_calls.step(tensor(x, DTYPE), tensor(dy, DTYPE), lr, **call_args(training))
        return self.runtime.numpy(y)
