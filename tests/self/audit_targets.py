"""Audit targets (``layerconf audit --flavour F tests/self/audit_targets.py:NAME``): the fine-tuning recipe and its
common mistakes in torch and Keras, and inputs the audit must refuse. Frameworks are imported inside each function,
so the module loads without any."""
import numpy as np

BATCH = np.random.default_rng(0).normal(2.0, 3.0, (16, 8)).astype(np.float32)
IMAGES = np.random.default_rng(1).normal(0.5, 1.0, (8, 3, 32, 32)).astype(np.float32)
IMAGES_NHWC = IMAGES.transpose(0, 2, 3, 1).copy()

def _torch_step():
    """One SGD step on what requires gradients, the loop a torch user writes: model.train() at the epoch's start."""
    import torch

    def step(model, batch):
        model.train()
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        loss = model(batch).square().mean()
        loss.backward()
        optimizer.step()
    return step

def resnet_train_mistake():
    """torchvision ResNet-18 as a frozen backbone (weights=None: nothing downloaded) under a new head:
    backbone.eval() and requires_grad_(False), then the epoch loop's model.train() puts it back in training."""
    import torch
    from torchvision.models import resnet18

    torch.manual_seed(0)
    backbone = resnet18(weights=None)
    backbone.fc = torch.nn.Identity()
    model = torch.nn.Sequential()
    model.add_module("backbone", backbone)
    model.add_module("head", torch.nn.Linear(512, 10))
    backbone.requires_grad_(False)
    backbone.eval()
    return model, torch.as_tensor(IMAGES), _torch_step()

def torch_small(keep_base_in_eval: bool, momentum: float = 0.1, eps: float = 1e-5):
    import torch
    from torch import nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.base = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8, momentum=momentum, eps=eps), nn.Dropout(0.5))
            self.head = nn.Linear(8, 1)

        def forward(self, x):
            return self.head(self.base(x))

        def train(self, mode=True):
            super().train(mode)
            if keep_base_in_eval:
                self.base.eval()
            return self

    torch.manual_seed(0)
    model = Model()
    model.base.requires_grad_(False)
    model.base.eval()
    return model, torch.as_tensor(BATCH), _torch_step()

def torch_recipe():
    """The frozen base kept in eval() by an overridden train(): no hazard."""
    return torch_small(True)

def torch_mistake():
    """The frozen base put back in training by model.train()."""
    return torch_small(False)

def torch_keras_momentum():
    """momentum=0.99 copied from Keras, eps=1e-8."""
    return torch_small(True, momentum=0.99, eps=1e-8)

def torch_default_step():
    """No step of the user's: the audit's default step."""
    return torch_small(True)[:2]

def keras_recipe(training_flag: bool = True, functional: bool = False, package: str = "keras"):
    """The transfer-learning guide's recipe on a small base (Dense, BatchNormalization, Dropout): base.trainable =
    False, the base called with training=False (or without it) under a trainable Dense head; a subclassed model, or
    the guide's Functional model; in Keras 3 or (package tf_keras) Keras 2."""
    import importlib
    keras = importlib.import_module(package)

    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8), keras.layers.BatchNormalization(),
                             keras.layers.Dropout(0.5)], name="base")
    base.trainable = False
    head = keras.layers.Dense(1, name="head")
    if functional:
        inputs = keras.Input((8,))
        x = base(inputs, training=False) if training_flag else base(inputs)
        model = keras.Model(inputs, head(x))
    else:
        class Model(keras.Model):
            def __init__(self):
                super().__init__()
                self.base, self.head = base, head

            def call(self, x, training=None):
                return self.head(self.base(x, training=False) if training_flag else self.base(x))
        model = Model()
        model(BATCH[:2])
    return model, BATCH

def keras_forgotten():
    """The recipe without training=False."""
    return keras_recipe(training_flag=False)

def keras_functional():
    """The guide's own code: a Functional model calling base(inputs, training=False)."""
    return keras_recipe(functional=True)

def keras_momentum(package: str = "keras"):
    """momentum=0.01 copied from torch."""
    import importlib
    keras = importlib.import_module(package)
    model = keras.Sequential([keras.Input((8,)), keras.layers.BatchNormalization(momentum=0.01)])
    return model, BATCH

def mobilenet_recipe(training_flag: bool = True, functional: bool = False):
    """The Keras transfer-learning guide's recipe on keras.applications.MobileNetV2 (weights=None: nothing
    downloaded; 32x32 images): base.trainable = False, the base called with training=False (or without it), global
    pooling, Dropout(0.2) and a Dense head; a subclassed model, or the guide's Functional model."""
    import keras

    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None)
    base.trainable = False
    pool, drop, head = keras.layers.GlobalAveragePooling2D(), keras.layers.Dropout(0.2), keras.layers.Dense(1)
    if functional:
        inputs = keras.Input((32, 32, 3))
        x = base(inputs, training=False) if training_flag else base(inputs)
        model = keras.Model(inputs, head(drop(pool(x))))
    else:
        class Model(keras.Model):
            def __init__(self):
                super().__init__()
                self.base, self.pool, self.drop, self.head = base, pool, drop, head

            def call(self, x, training=None):
                x = self.base(x, training=False) if training_flag else self.base(x)
                return self.head(self.drop(self.pool(x), training=training))
        model = Model()
        model(IMAGES_NHWC[:2])
    return model, IMAGES_NHWC

def mobilenet_forgotten():
    return mobilenet_recipe(training_flag=False)

def tf_keras_recipe():
    return keras_recipe(package="tf_keras")

def tf_keras_forgotten():
    return keras_recipe(training_flag=False, package="tf_keras")

def tf_keras_functional():
    """The guide's Functional model in Keras 2, which keeps the node's training=False."""
    return keras_recipe(functional=True, package="tf_keras")

def tf_keras_momentum():
    return keras_momentum("tf_keras")

def nnx_small(keep_base_in_eval: bool, jit: bool = False, momentum: float = 0.99):
    """Flax nnx: a base (Linear, BatchNorm, Dropout) frozen by the optimizer's filter and put in eval() under a
    Linear head; the step's model.train() at the epoch's start, then (the recipe) model.base.eval() again."""
    import jax.numpy as jnp
    import optax
    from flax import nnx

    class Model(nnx.Module):
        def __init__(self, rngs):
            self.base = nnx.Sequential(nnx.Linear(8, 8, rngs=rngs), nnx.BatchNorm(8, momentum=momentum, rngs=rngs),
                                       nnx.Dropout(0.5, rngs=rngs))
            self.head = nnx.Linear(8, 1, rngs=rngs)

        def __call__(self, x):
            return self.head(self.base(x))

    trainable = nnx.All(nnx.Param, nnx.Not(nnx.PathContains("base")))

    def update(model, batch):
        grads = nnx.grad(lambda m: jnp.mean(jnp.square(m(batch))), argnums=nnx.DiffState(0, trainable))(model)
        nnx.Optimizer(model, optax.sgd(0.1), wrt=trainable).update(model, grads)

    def step(model, batch):
        model.train()
        if keep_base_in_eval:
            model.base.eval()
        (nnx.jit(update) if jit else update)(model, batch)

    model = Model(nnx.Rngs(0, dropout=1))
    model.base.eval()
    return model, BATCH, step

def nnx_recipe():
    return nnx_small(True)

def nnx_mistake():
    return nnx_small(False)

def nnx_mistake_jit():
    """The mistake with the update under nnx.jit: no arrays, the statistics tell."""
    return nnx_small(False, jit=True)

def nnx_torch_momentum():
    """momentum=0.1 copied from torch, the audit's default step."""
    return nnx_small(True, momentum=0.1)[:2]

def linen_small(base_train_false: bool, jit: bool = False, momentum: float = 0.99):
    """Flax linen: a base (Dense, BatchNorm, Dropout) whose params are labelled 'frozen' in optax.multi_transform,
    under a Dense head; the model's __call__ passes the base train=False (the recipe) or its own train flag."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import optax
    from flax import traverse_util

    class Base(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool):
            x = nn.BatchNorm(use_running_average=not train, momentum=momentum)(nn.Dense(8)(x))
            return nn.Dropout(0.5, deterministic=not train)(x)

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            return nn.Dense(1, name="head")(Base(name="base")(x, train=False if base_train_false else train))

    module = Model()
    variables = module.init(jax.random.key(0), BATCH[:2])
    labels = traverse_util.path_aware_map(lambda path, _: "frozen" if path[0] == "base" else "trainable",
                                          variables["params"])
    tx = optax.multi_transform({"trainable": optax.sgd(0.1), "frozen": optax.set_to_zero()}, labels)

    def update(variables, batch):
        def loss(params):
            y, updates = module.apply({**variables, "params": params}, batch, train=True, mutable=["batch_stats"],
                                      rngs={"dropout": jax.random.key(1)})
            return jnp.mean(jnp.square(y)), updates
        grads, updates = jax.grad(loss, has_aux=True)(variables["params"])
        changes, _ = tx.update(grads, tx.init(variables["params"]), variables["params"])
        return {**variables, **updates, "params": optax.apply_updates(variables["params"], changes)}

    def step(model, batch):
        return (jax.jit(update) if jit else update)(model[1], batch)
    return (module, variables), BATCH, step

def linen_recipe():
    return linen_small(True)

def linen_mistake():
    """The base given the model's own train flag: its BatchNorm trains with the head."""
    return linen_small(False)

def linen_mistake_jit():
    return linen_small(False, jit=True)

def linen_torch_momentum():
    """momentum=0.1 copied from torch, the audit's default step."""
    return linen_small(False, momentum=0.1)[:2]

def linen_not_a_pair():
    """A linen module without its variables."""
    import flax.linen as nn
    return nn.BatchNorm(), BATCH

def not_a_pair():
    return "a model"

def torch_model_for_keras():
    import torch
    return torch.nn.BatchNorm1d(8), BATCH

def torch_training():
    """A small network handed over in training mode (a BatchNorm after a ReLU, so no exporter folds it into the
    Linear before), with the audit's default step: the model a training export is made from."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(8), nn.Linear(8, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Dropout(0.5),
                          nn.Linear(8, 4))
    return model, torch.as_tensor(BATCH)

def torch_exported(path, dynamo: bool = True):
    """torch_training's model exported in training mode to ``path`` (the TorchScript exporter told TRAINING)."""
    import torch

    model, batch = torch_training()
    if dynamo:
        torch.onnx.export(model, (batch,), dynamo=True, verbose=False).save(str(path))
    else:
        torch.onnx.export(model, (batch,), str(path), dynamo=False, training=torch.onnx.TrainingMode.TRAINING)
    return path

def _paddle_step():
    """One SGD step on what is not stop_gradient, the loop a paddle user writes: model.train() at the epoch's start."""
    import paddle

    def step(model, batch):
        model.train()
        optimizer = paddle.optimizer.SGD(learning_rate=0.1, parameters=[p for p in model.parameters() if not p.stop_gradient])
        model(batch).square().mean().backward()
        optimizer.step()
        optimizer.clear_grad()
    return step

def paddle_small(keep_base_in_eval: bool, momentum: float = 0.9, eps: float = 1e-5):
    """PaddlePaddle: a base (Linear, BatchNorm1D, Dropout) frozen by stop_gradient and put in eval() under a Linear
    head; the recipe overrides train() to put the base back in eval()."""
    import paddle
    from paddle import nn

    class Model(nn.Layer):
        def __init__(self):
            super().__init__()
            self.base = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1D(8, momentum=momentum, epsilon=eps), nn.Dropout(0.5))
            self.head = nn.Linear(8, 1)

        def forward(self, x):
            return self.head(self.base(x))

        def train(self):
            super().train()
            if keep_base_in_eval:
                self.base.eval()

    paddle.seed(0)
    model = Model()
    for parameter in model.base.parameters():
        parameter.stop_gradient = True
    model.base.eval()
    return model, BATCH, _paddle_step()

def paddle_recipe():
    """The frozen base kept in eval() by an overridden train(): no hazard."""
    return paddle_small(True)

def paddle_mistake():
    """The frozen base put back in training by model.train()."""
    return paddle_small(False)

def paddle_torch_momentum():
    """momentum=0.1 copied from torch, eps=1e-8, the audit's default step."""
    return paddle_small(True, momentum=0.1, eps=1e-8)[:2]

def mlx_small(keep_base_in_eval: bool, momentum: float = 0.1, compiled: bool = False):
    """MLX: a base (Linear, BatchNorm, Dropout) frozen by freeze() and put in eval() under a Linear head; the step's
    model.train() at the epoch's start, then (the recipe) model.base.eval() again; nn.value_and_grad and
    mlx.optimizers.SGD as MLX's examples write them (the update under mx.compile where asked)."""
    from functools import partial

    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.base = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm(8, momentum=momentum), nn.Dropout(0.5))
            self.head = nn.Linear(8, 1)

        def __call__(self, x):
            return self.head(self.base(x))

    def loss(model, batch):
        return mx.mean(mx.square(model(batch)))

    def step(model, batch):
        model.train()
        if keep_base_in_eval:
            model.base.eval()
        optimizer = optim.SGD(learning_rate=0.1)
        state = [model.state, optimizer.state, mx.random.state]

        def update(batch):
            _, grads = nn.value_and_grad(model, loss)(model, batch)
            optimizer.update(model, grads)
        (partial(mx.compile, inputs=state, outputs=state)(update) if compiled else update)(batch)
        mx.eval(model.parameters())

    mx.random.seed(0)
    model = Model()
    model.base.freeze()
    model.base.eval()
    return model, BATCH, step

def mlx_recipe():
    return mlx_small(True)

def mlx_mistake():
    return mlx_small(False)

def mlx_mistake_compiled():
    """The mistake with the update under mx.compile: no arrays, the statistics tell."""
    return mlx_small(False, compiled=True)

def mlx_keras_momentum():
    """momentum=0.99 copied from Keras, the audit's default step."""
    return mlx_small(True, momentum=0.99)[:2]

def equinox_small(keep_base_in_inference: bool, momentum: float = 0.99):
    """Equinox: a base (Linear, BatchNorm(mode='batch'), Dropout) put in inference and left out of the filter spec,
    under a Linear head; the step's eqx.nn.inference_mode(model, value=False) at the epoch's start, then (the recipe)
    the base back in inference with eqx.tree_at. The model is called per example, vmapped with axis_name='batch'."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    class Model(eqx.Module):
        base: eqx.nn.Sequential
        head: eqx.nn.Linear

        def __init__(self, key):
            k1, k2 = jax.random.split(key)
            self.base = eqx.nn.Sequential([eqx.nn.Linear(8, 8, key=k1),
                                           eqx.nn.BatchNorm(8, "batch", momentum=momentum, mode="batch"),
                                           eqx.nn.Dropout(0.5)])
            self.head = eqx.nn.Linear(8, 1, key=k2)

        def __call__(self, x, state, key):
            h, state = self.base(x, state, key=key)
            return self.head(h), state

    def forward(model, state, batch, key):
        keys = jax.random.split(key, batch.shape[0])
        return jax.vmap(model, axis_name="batch", in_axes=(0, None, 0), out_axes=(0, None))(batch, state, keys)

    def step(pair, batch):
        model, state = pair
        model = eqx.nn.inference_mode(model, value=False)
        if keep_base_in_inference:
            model = eqx.tree_at(lambda m: m.base, model, eqx.nn.inference_mode(model.base))
        spec = jax.tree.map(lambda _: False, model)
        spec = eqx.tree_at(lambda m: m.head, spec, jax.tree.map(eqx.is_inexact_array, model.head))
        trainable, frozen = eqx.partition(model, spec)

        def loss(trainable):
            y, new_state = forward(eqx.combine(trainable, frozen), state, batch, jax.random.key(1))
            return jnp.mean(jnp.square(y)), new_state
        grads, state = eqx.filter_grad(loss, has_aux=True)(trainable)
        optimizer = optax.sgd(0.1)
        updates, _ = optimizer.update(grads, optimizer.init(trainable))
        return eqx.combine(eqx.apply_updates(trainable, updates), frozen), state

    model, state = eqx.nn.make_with_state(Model)(jax.random.key(0))
    model = eqx.tree_at(lambda m: m.base, model, eqx.nn.inference_mode(model.base))
    return (model, state, forward), BATCH, step

def equinox_recipe():
    return equinox_small(True)

def equinox_mistake():
    return equinox_small(False)

def equinox_torch_momentum():
    """momentum=0.1 copied from torch, the audit's default step (the model handed over in training mode)."""
    (model, state, _), batch, _ = equinox_small(True, momentum=0.1)
    import equinox as eqx
    return (eqx.nn.inference_mode(model, value=False), state), batch
