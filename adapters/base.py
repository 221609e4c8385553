"""The framework-neutral interface: NumPy arrays in and out.

An adapter builds layers through the framework's public API from framework-native arguments (the
profile spells them), runs them in training or inference mode, reads and writes their state, freezes
them the framework's documented way, takes gradients and runs one optimizer step. Nothing else:
expected values never come from here.

Gradients and steps use the loss L = sum(dy * y) for a given upstream gradient dy.
State keys: running_mean, running_var, gamma, beta (None where the layer has none).
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np


class DeviceUnavailable(ValueError):
    """The machine or the framework's build has no such device; the message names the devices it has."""


class BatchNormLayer(ABC):
    @abstractmethod
    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """Run the layer in training (True) or inference (False) mode."""

    @abstractmethod
    def state(self) -> dict[str, np.ndarray | None]:
        """Current running_mean, running_var, gamma, beta."""

    @abstractmethod
    def set_state(self, **arrays: np.ndarray) -> None:
        """Overwrite any of running_mean, running_var, gamma, beta."""

    @abstractmethod
    def freeze(self) -> None:
        """Freeze the layer the way the framework documents (the profile's frozen.how)."""

    @abstractmethod
    def gradients(self, x: np.ndarray, dy: np.ndarray, training: bool) -> dict[str, np.ndarray | None]:
        """dL/dx, dL/dgamma, dL/dbeta (keys x, gamma, beta) for L = sum(dy * y)."""

    @abstractmethod
    def sgd_step(self, x: np.ndarray, dy: np.ndarray, lr: float, training: bool) -> np.ndarray:
        """One step of the framework's SGD optimizer on L = sum(dy * y); returns dL/dx of that step."""

    @abstractmethod
    def reloaded(self) -> "BatchNormLayer":
        """A fresh layer built the same way, with this one's state saved and loaded the framework's way."""

    def forward_masked(self, x: np.ndarray, mask: np.ndarray, training: bool) -> np.ndarray:
        """Run the layer with a mask (x's shape without the channel axis; True: the entry counts in the
        batch statistics), for layers that take one (profile batchnorm.mask)."""
        raise NotImplementedError(f"{type(self).__name__} takes no mask: its profile has no batchnorm.mask")


class DropoutLayer(ABC):
    @abstractmethod
    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """Run the layer in training (True) or inference (False) mode."""

    @abstractmethod
    def forward_and_grad(self, x: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(y, dL/dx) of one training call, L = sum(dy * y)."""

    def forward_with_mask(self, x: np.ndarray, training: bool) -> tuple[np.ndarray, np.ndarray]:
        """(y, keep mask) of one call, for layers that return their mask (profile dropout.mask_output)."""
        raise NotImplementedError(f"{type(self).__name__} returns no mask: its profile has no dropout.mask_output")

    def input_after(self) -> np.ndarray:
        """The caller's input as it is after the last call (an in-place kernel, ``writes_input``, overwrote it)."""
        raise NotImplementedError(f"{type(self).__name__} does not keep its caller's input")


class Layer(ABC):
    """Any other layer whose behaviour depends on the training flag (RReLU, noise, attention, recurrent,
    InstanceNorm, ...), built by ``Adapter.layer``; one input array, one output array.
    State keys are the layer's neutral names (running_mean, running_var, ...), as its profile section says."""

    @abstractmethod
    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """Run the layer in training (True) or inference (False) mode."""

    def forward_and_grad(self, x: np.ndarray, dy: np.ndarray, training: bool) -> tuple[np.ndarray, np.ndarray]:
        """(y, dL/dx) of one call, L = sum(dy * y)."""
        raise NotImplementedError(f"{type(self).__name__} takes no gradients")

    def state(self) -> dict[str, np.ndarray | None]:
        """The layer's running statistics and parameters by neutral key (none by default)."""
        return {}

    def set_state(self, **arrays: np.ndarray) -> None:
        """Overwrite any of the keys ``state`` returns."""
        raise NotImplementedError(f"{type(self).__name__} has no state to set")

    def input_after(self) -> np.ndarray:
        """The caller's input as it is after the last call (an in-place kernel, ``writes_input``, overwrote it)."""
        raise NotImplementedError(f"{type(self).__name__} does not keep its caller's input")


class AttentionLayer(Layer):
    """Multi-head attention (profile ``attention``): query (N, L, E), key and value (N, S, E), H heads of size D.
    State keys (reference/attention.py, x @ kernel + bias): q_kernel, k_kernel, v_kernel (E, H, D), their biases
    (H, D), o_kernel (H, D, E), o_bias (E,). ``forward(x, training)`` is self-attention."""

    def forward(self, x, training):
        return self.attend(x, x, x, training)[0]

    @abstractmethod
    def attend(self, query, key, value, training: bool, weights: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(output (N, L, E), the weights (N, H, L, S) the layer returns when ``weights``, else None)."""

    def attend_fast(self, x: np.ndarray) -> np.ndarray:
        """Self-attention on x in inference on the framework's fast path (profile attention.fast_path)."""
        raise NotImplementedError(f"{type(self).__name__} has no fast path: its profile has no attention.fast_path")

    def encoder(self, x: np.ndarray, path: str) -> np.ndarray:
        """A transformer encoder layer with this layer's dropout rate and heads on x (N, L, E) (profile
        attention.encoder), seeded identically for each ``path``: 'fast' (inference, fast path), 'general'
        (inference, general path), 'train' (training mode, built with rate 0)."""
        raise NotImplementedError(f"{type(self).__name__} has no encoder: its profile has no attention.encoder")


class RecurrentLayer(Layer):
    """A recurrent layer (profile recurrent): forward(x, training) maps x (N, T, F) to the last layer's outputs at
    every step (N, T, H), from zero initial states."""

    @abstractmethod
    def set_weights(self, layers: list[dict]) -> None:
        """Overwrite every layer's weights, given per layer in reference.recurrent's neutral form (kernel (F, G H),
        recurrent_kernel (H, G H), bias, recurrent_bias (G H), gates in the neutral order)."""


def gate_blocks(w: np.ndarray, cell: str, native: list | None, axis: int = -1) -> np.ndarray:
    """w's gate blocks along ``axis`` from the neutral order (reference.recurrent.GATES) into the framework's
    (profile recurrent.gates; None: the neutral order)."""
    from layerconf.reference.recurrent import GATES
    neutral = GATES[cell]
    native = native or neutral
    blocks = dict(zip(neutral, np.split(np.asarray(w, np.float64), len(neutral), axis=axis)))
    return np.concatenate([blocks[g] for g in native], axis=axis)


class ReplicaError(RuntimeError):
    """A replica's call raised: ``error_type`` (the exception's class name), ``message`` and ``rank`` say which."""

    def __init__(self, error_type: str, message: str, rank: int):
        super().__init__(f"replica {rank}: {error_type}: {message}")
        self.error_type, self.message, self.rank = error_type, message, rank


class Replicated(ABC):
    """A layer on R replicas (profile ``replicas``), built by ``Adapter.layer('replicas', config)``: config.kind 'sync'
    (the synchronized BatchNorm), 'local' (BatchNorm under the data-parallel wrapper, config.native adds its
    arguments) or 'dropout'; config.sizes['replicas'] is R. Each call takes one part per replica (NumPy, the batch
    axis first) and returns one output per replica; the replicas run as the framework's users run them (processes,
    devices), and a call that does not finish within the adapter's time limit ends them and raises TimeoutError."""

    @abstractmethod
    def forward(self, parts: list, training: bool, masks: list | None = None, dys: list | None = None,
                lr: float = 0.0) -> list:
        """One call on every replica; a training call of kind 'local' is an optimizer step on L_r = sum(dy_r * y_r)
        (dys None: zeros) with learning rate ``lr``."""

    @abstractmethod
    def states(self) -> list[dict]:
        """Each replica's state (running_mean, running_var, gamma, beta for BatchNorm)."""

    def set_state(self, **arrays) -> None:
        """Overwrite the keys on every replica."""
        raise NotImplementedError(f"{type(self).__name__} has no state to set")

    def seed(self, seed: int) -> None:
        """Seed the replicas the framework's way for a data-parallel run (profile replicas.dropout.seeding)."""
        raise NotImplementedError(f"{type(self).__name__} takes no seed")


@dataclass(frozen=True)
class LayerConfig:
    """The layer a check asks for, in neutral words: its input's ``dtype`` and ``layout``, its ``channels`` (None: a
    lazy class infers them), the ``kind`` that picks among the section's classes (dropout variant, augmentation
    kind, recurrent cell, BatchNorm variant), ``sizes`` (attention: embed, heads; recurrent: layers, features,
    units), ``native``: the layer's own arguments as the profile spells them, and ``kernel``: the profile's entry of
    ``<section>.kernels`` for a kernel other than the default (its ``arguments`` already in ``native``; the adapter
    honours ``memory_format`` and ``writes_input``), empty for the default path."""

    dtype: str
    layout: str | None = None
    channels: int | None = None
    kind: str | None = None
    sizes: dict = field(default_factory=dict)
    native: dict = field(default_factory=dict)
    kernel: dict = field(default_factory=dict)


class Adapter(ABC):
    """One flavour's adapter, given the flavour (``layerconf.flavours.Flavour``: its name, manifest and profile) and
    the device. Every layer comes from ``layer(section, config)``."""

    def __init__(self, flavour, device: str):
        self.flavour, self.name, self.profile, self.device = flavour, flavour.name, flavour.profile, device

    @abstractmethod
    def version(self) -> str:
        """The framework's version string."""

    @abstractmethod
    def environment(self) -> dict:
        """Device and numeric settings in force (for the report header and the results); ``device`` is
        read from the framework (where it places arrays), not copied from --device."""

    @abstractmethod
    def seed(self, seed: int) -> None:
        """Seed the framework's random generator the way its users do."""

    def layer(self, section: str, config: LayerConfig) -> Layer:
        """The layer of profile section ``section`` (batchnorm, dropout, rrelu, ...) for ``config``: built by the
        adapter's builder of that section (``builders``) where it has one, else as its one-input layer
        (``one_input``) of the class the profile names (``Profile.layer_class``). A case reaches this only where
        the profile has the section (layerconf.applicability), so a missing builder marks a profile and an adapter
        that disagree.

        What each section's layer is (``config`` fields it reads; the Layer type it returns):
        batchnorm, batchnorm_keras (layout, channels; BatchNormLayer, batchnorm_keras's state adds moving_stddev,
        renorm_mean, renorm_stddev), batchnorm_variants (kind sync or lazy, layout, channels None for lazy;
        BatchNormLayer), dropout (kind element, channel, alpha, channel_alpha or gaussian, layout; DropoutLayer),
        attention (sizes embed, heads; AttentionLayer), recurrent (kind rnn, lstm or gru, sizes layers, features,
        units; RecurrentLayer), augmentation (kind: a key of augmentation.classes; images (N, H, W, C), forward(x,
        None) omits the flag), instance_norm (layout, channels; state running_mean, running_var, gamma, beta), and
        the one-input layers rrelu, gaussian_noise, stochastic_depth (their formulas: specs/behaviours), and replicas
        (kind sync, local or dropout, sizes replicas, layout, channels; Replicated)."""
        build = self.builders().get(section)
        if build is not None:
            return build(config)
        cls = self.profile.layer_class(section, config.kind, config.layout)
        if cls is None:
            raise NotImplementedError(f"{self.name}'s adapter builds no {section} layer, and its profile names no "
                                      f"{section} class")
        return self.one_input(cls, config)

    def builders(self) -> dict:
        """Section -> builder(config) for the layers that are more than one input and one output (BatchNorm with
        its state, attention, recurrent layers, ...)."""
        return {}

    def one_input(self, cls: str, config: LayerConfig) -> Layer:
        """The framework's class ``cls`` (as the profile spells it) built with ``config.native``, as a Layer: one
        input array, one output array, forward in either mode and forward_and_grad."""
        raise NotImplementedError(f"{self.name}'s adapter builds no one-input layer (class {cls})")


class FlagModel(ABC):
    """A small model for the training flag and the trainable attribute (Keras semantics).

    inputs (N, C) -> base: a nested model holding one BatchNormalization over the C features, called
    with ``base_training`` (True, False, or None: the argument omitted) -> head: Dense(1) -> output.
    Compiled with mean squared error and the framework's SGD(lr). State keys: running_mean,
    running_var, gamma, beta (the BatchNormalization) and kernel (C, 1), bias (1,) (the head).
    """

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """Current values of every state key."""

    @abstractmethod
    def set_state(self, **arrays: np.ndarray) -> None:
        """Overwrite any state keys."""

    @abstractmethod
    def set_trainable(self, part: str, value: bool) -> None:
        """Set ``trainable`` on part 'base' (the nested model) or 'bn' (the layer), then compile again."""

    @abstractmethod
    def train(self, x: np.ndarray, t: np.ndarray, method: str) -> float:
        """One optimizer step on the whole batch: method 'fit' (batch_size N, one epoch, no shuffling)
        or 'train_on_batch'; returns the loss the framework reports for the step."""

    @abstractmethod
    def predict(self, x: np.ndarray) -> np.ndarray:
        """model.predict."""

    @abstractmethod
    def evaluate(self, x: np.ndarray, t: np.ndarray) -> float:
        """model.evaluate: the loss."""

    @abstractmethod
    def call(self, x: np.ndarray, training: bool | None) -> np.ndarray:
        """The model called directly, model(x, training=training); None omits the argument."""

    @abstractmethod
    def bn_step(self, x: np.ndarray, dy: np.ndarray, lr: float, training: bool | None) -> np.ndarray:
        """The BatchNormalization layer called directly, bn(x, training=training) (None omits the
        argument), differentiated for L = sum(dy * y), then one SGD step on its trainable variables;
        returns y."""


class TrainingFlagAdapter(ABC):
    """Adapters of frameworks with a per-call training flag and a trainable attribute (Keras)."""

    @abstractmethod
    def flag_model(self, channels: int, base_training: bool | None, lr: float, **native) -> FlagModel:
        """The FlagModel with ``channels`` features; ``native`` are BatchNormalization arguments."""


def container(kind: str, classes: dict, bn, drop):
    """The base's container of ``kind`` holding ``bn`` then ``drop``, built with the framework's class for it
    (``classes``: sequential, list, dict): Sequential(bn, drop), List([bn, drop]), Dict({"bn": bn, "drop": drop})."""
    if kind not in classes:
        raise ValueError(f"no container kind {kind!r}; kinds: {sorted(classes)}")
    cls = classes[kind]
    return cls(bn, drop) if kind == "sequential" else cls([bn, drop]) if kind == "list" else cls({"bn": bn, "drop": drop})


def through(kind: str, blocks, x):
    """x through the base's container the way users call each kind: a Sequential called itself, a list layer by
    layer, a dict by its keys."""
    if kind == "sequential":
        return blocks(x)
    if kind == "list":
        for layer in blocks:
            x = layer(x)
        return x
    return blocks["drop"](blocks["bn"](x))


class NestedModel(Layer):
    """Layers inside a model (profile ``models``, reference/nested.py): x (N, C) -> base: BatchNorm over C -> Dropout,
    both two levels deep in the framework's container (``LayerConfig.kind``: sequential, list or dict; native
    ``{"batchnorm": {...}, "dropout": {...}}``: each layer's own arguments) -> head: Dense(1). Mean squared error and
    the framework's SGD (profile models.optimizer).

    State keys: running_mean, running_var, gamma, beta (the nested BatchNorm), kernel (C, 1), bias (1,) (the head),
    read from and written to the framework's own state of the whole model (state_dict, variables, nnx.state, ...).
    A fresh model is in the framework's default mode; ``set_mode`` sets it the framework's way (profile models.mode)."""

    @abstractmethod
    def set_mode(self, training: bool, part: str = "model") -> None:
        """Put ``part`` ('model': the whole model; 'base': the base alone) in training (True) or inference mode the
        framework's way: train()/eval(), nnx's train()/eval(), eqx.nn.inference_mode, or the flag the adapter passes
        down at the next calls (linen, Keras)."""

    @abstractmethod
    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features: the base's output (N, C), prediction (N, 1)) of one call in the modes set; a training base
        updates its running statistics."""

    def forward(self, x, training):
        self.set_mode(training)
        return self.run(x)[1]

    @abstractmethod
    def state_names(self) -> dict[str, str]:
        """State key -> the name or path of that entry in the framework's state of the whole model."""

    @abstractmethod
    def freeze_base(self) -> None:
        """Freeze the base the framework's way (profile models.freeze): requires_grad_(False), stop_gradient,
        an optimizer mask or filter, trainable=False; the optimizer steps of ``sgd_step`` honour it."""

    @abstractmethod
    def sgd_step(self, x: np.ndarray, t: np.ndarray, lr: float) -> tuple[np.ndarray, float]:
        """One step of the framework's SGD(lr) over the whole model on mse(prediction, t), in the modes set;
        returns (the features of the step's forward pass, the loss before the step)."""

    @abstractmethod
    def pitfall(self) -> None:
        """Apply the framework's common fine-tuning mistake (profile models.pitfall.how) after the recipe."""

    @abstractmethod
    def reloaded(self) -> "NestedModel":
        """A fresh model built the same way, this one's whole state saved and loaded the framework's way."""
