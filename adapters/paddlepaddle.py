"""PaddlePaddle: paddle.nn layers in the dynamic graph (eager), layer.train()/eval(), paddle.grad,
paddle.optimizer.SGD, paddle.save/paddle.load.

Quirks kept here: a float64 layer is built as users build one, ``layer.to(dtype='float64')`` (paddle creates
parameters in the default dtype, float32); the warning every BatchNorm training call gives is silenced; the
classes per layout and variant, and the layout's arguments (data_format, Dropout's axis), come from the profile.
"""
import io
import warnings

import ml_dtypes
import numpy as np
import paddle

from layerconf.adapters.base import Adapter, AttentionLayer, BatchNormLayer, DeviceUnavailable, DropoutLayer, Layer

STATE = {"running_mean": "_mean", "running_var": "_variance", "gamma": "weight", "beta": "bias"}
# _BatchNormBase.forward warns on every training call
TRACKING = "When training, we now always track global mean and variance"


def to_tensor(x, dtype: str, requires_grad: bool = False) -> paddle.Tensor:
    """x as a tensor of ``dtype``; float16 and bfloat16 (no NumPy dtype) are cast in paddle from float32, which holds
    their values exactly."""
    if dtype in ("float64", "float32"):
        return paddle.to_tensor(np.asarray(x, dtype=dtype), stop_gradient=not requires_grad)
    t = paddle.to_tensor(np.asarray(x, dtype=np.float32)).astype(dtype)
    t.stop_gradient = not requires_grad
    return t


def to_numpy(t: paddle.Tensor) -> np.ndarray:
    """A bfloat16 tensor's numpy() is its bits as uint16: read it through float32 into ml_dtypes.bfloat16."""
    return t.astype("float32").numpy().astype(ml_dtypes.bfloat16) if t.dtype == paddle.bfloat16 else t.numpy()


class _Layer:
    """Runs ``self.layer`` on NumPy input of ``self.dtype`` in the mode asked for."""

    def _mode(self, training: bool):
        self.layer.train() if training else self.layer.eval()

    def _call(self, xt):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=TRACKING)
            return self.layer(xt)

    def forward(self, x, training):
        self._mode(training)
        with paddle.no_grad():
            return to_numpy(self._call(to_tensor(x, self.dtype)))

    def _loss(self, x, dy):
        """(x as a leaf that takes gradients, y, L = sum(dy * y))."""
        xt = to_tensor(x, self.dtype, requires_grad=True)
        y = self._call(xt)
        return xt, y, (y * to_tensor(dy, self.dtype)).sum()


class PaddleBatchNorm(_Layer, BatchNormLayer):
    def __init__(self, cls: str, channels: int, dtype: str, native: dict):
        self.build, self.dtype = (cls, channels, dtype, native), dtype
        self.layer = getattr(paddle.nn, cls)(channels, **native)
        if dtype == "float64":
            self.layer.to(dtype="float64")

    def _parameter(self, key):
        return getattr(self.layer, STATE[key])

    def state(self):
        return {k: None if self._parameter(k) is None else self._parameter(k).numpy() for k in STATE}

    def set_state(self, **arrays):
        for key, value in arrays.items():
            target = self._parameter(key)
            target.set_value(np.asarray(value, dtype=target.numpy().dtype))

    def freeze(self):
        for parameter in self.layer.parameters():
            parameter.stop_gradient = True

    def _trainable(self) -> dict:
        return {k: p for k in ("gamma", "beta") if (p := self._parameter(k)) is not None and not p.stop_gradient}

    def gradients(self, x, dy, training):
        self._mode(training)
        xt, _, loss = self._loss(x, dy)
        trainable = self._trainable()
        grads = paddle.grad([loss], [xt, *trainable.values()])
        named = dict(zip(["x", *trainable], grads))
        return {k: None if named.get(k) is None else named[k].numpy() for k in ("x", "gamma", "beta")}

    def sgd_step(self, x, dy, lr, training):
        """One paddle.optimizer.SGD step over the layer's parameters after loss.backward(); dL/dx of that step."""
        self._mode(training)
        optimizer = paddle.optimizer.SGD(learning_rate=lr, parameters=self.layer.parameters())
        optimizer.clear_grad()
        xt, _, loss = self._loss(x, dy)
        loss.backward()
        optimizer.step()
        return xt.grad.numpy()

    def reloaded(self):
        buffer = io.BytesIO()
        paddle.save(self.layer.state_dict(), buffer)
        buffer.seek(0)
        fresh = PaddleBatchNorm(*self.build)
        fresh.layer.set_state_dict(paddle.load(buffer))
        return fresh


class PaddleDropout(_Layer, DropoutLayer):
    def __init__(self, cls: str, dtype: str, native: dict):
        self.layer, self.dtype = getattr(paddle.nn, cls)(**native), dtype

    def forward_and_grad(self, x, dy):
        self._mode(True)
        xt, y, loss = self._loss(x, dy)
        (dx,) = paddle.grad([loss], [xt])
        return to_numpy(y), to_numpy(dx)


class PaddleAttention(AttentionLayer):
    """paddle.nn.MultiHeadAttention(embed_dim, num_heads, dropout=p) in train()/eval(); need_weights (a constructor
    argument kept as an attribute) set per call. Its q/k/v/out_proj are Linear layers, y = x W + b, W (in, out)."""

    def __init__(self, cls: str, dtype: str, embed: int, heads: int, native: dict):
        self.dtype, self.embed, self.heads = dtype, embed, heads
        self.layer = getattr(paddle.nn, cls)(embed, heads, **native)
        self.layer.to(dtype=dtype)
        self.projections = {"q": self.layer.q_proj, "k": self.layer.k_proj, "v": self.layer.v_proj, "o": self.layer.out_proj}

    def attend(self, query, key, value, training, weights=False):
        self.layer.train() if training else self.layer.eval()
        self.layer.need_weights = weights
        with paddle.no_grad():
            out = self.layer(*(to_tensor(a, self.dtype) for a in (query, key, value)))
        y, w = out if weights else (out, None)
        return to_numpy(y), None if w is None else to_numpy(w)

    def state(self):
        e, h = self.embed, self.heads
        shapes = {"kernel": {"o": (h, e // h, e)}, "bias": {"o": (e,)}}
        return {f"{n}_{part}": getattr(linear, "weight" if part == "kernel" else "bias").numpy().reshape(
                    shapes[part].get(n, (e, h, e // h) if part == "kernel" else (h, e // h)))
                for n, linear in self.projections.items() for part in ("kernel", "bias")}

    def set_state(self, **arrays):
        for name, a in arrays.items():
            n, part = name.split("_")
            parameter = getattr(self.projections[n], "weight" if part == "kernel" else "bias")
            parameter.set_value(np.asarray(a).reshape(parameter.shape).astype(self.dtype))


class PaddleLayer(_Layer, Layer):
    """A paddle.nn layer of one input (RReLU, ...) without parameters, run on input of ``dtype``."""

    def __init__(self, cls: str, dtype: str, native: dict):
        self.layer, self.dtype = getattr(paddle.nn, cls)(**native), dtype

    def forward_and_grad(self, x, dy, training):
        self._mode(training)
        xt, y, loss = self._loss(x, dy)
        (dx,) = paddle.grad([loss], [xt])
        return to_numpy(y), to_numpy(dx)


class PaddleInstanceNorm(PaddleLayer):
    """InstanceNorm*D: parameters scale and bias (None with weight_attr=bias_attr=False), no running statistics."""

    def __init__(self, cls: str, channels: int, dtype: str, native: dict):
        self.layer, self.dtype = getattr(paddle.nn, cls)(channels, **native), dtype
        if dtype == "float64":
            self.layer.to(dtype="float64")

    def state(self):
        return {k: None if (p := getattr(self.layer, a)) is None else p.numpy() for k, a in (("gamma", "scale"), ("beta", "bias"))}

    def set_state(self, **arrays):
        for key, value in arrays.items():
            target = getattr(self.layer, {"gamma": "scale", "beta": "bias"}[key])
            target.set_value(np.asarray(value, dtype=target.numpy().dtype))


class PaddleAdapter(Adapter):
    def __init__(self, flavour, device: str):
        if device != "cpu":
            raise DeviceUnavailable(f"--device {device}: the {flavour.name} flavour runs paddle's CPU build; its devices: cpu")
        paddle.set_device("cpu")
        super().__init__(flavour, device)

    def version(self):
        return paddle.__version__

    def environment(self):
        place = paddle.to_tensor([0.0]).place
        return {"device": "cpu" if place.is_cpu_place() else str(place), "execution": "dynamic graph (eager)",
                "default_dtype": paddle.get_default_dtype()}

    def seed(self, seed):
        paddle.seed(seed)

    def _layout_arguments(self, layer: str, layout: str) -> dict:
        return self.profile.get(f"{layer}.layout_arguments", {}).get(layout, {})

    def _class(self, section, config):
        return self.profile.layer_class(section, config.kind, config.layout)

    def builders(self):
        return {"batchnorm": self.batchnorm, "instance_norm": self.instance_norm, "dropout": self.dropout,
                "attention": self.attention, "models": self.models}

    def models(self, config):
        """The nested model of adapters.paddle_models; BatchNorm1D gets the profile's NC layout arguments."""
        from layerconf.adapters.paddle_models import PaddleNestedModel
        layout = self.profile.get("batchnorm.layout_arguments", {}).get("NC", {})
        native = {**config.native, "batchnorm": {**layout, **config.native["batchnorm"]}}
        return PaddleNestedModel(config.kind, config.channels, native)

    def one_input(self, cls, config):
        return PaddleLayer(cls, config.dtype, config.native)

    def batchnorm(self, config):
        native = {**self._layout_arguments("batchnorm", config.layout), **config.native}
        return PaddleBatchNorm(self._class("batchnorm", config), config.channels, config.dtype, native)

    def instance_norm(self, config):
        return PaddleInstanceNorm(self._class("instance_norm", config), config.channels, config.dtype, config.native)

    def dropout(self, config):
        native = config.native
        if config.kind == "channel":
            native = {**self._layout_arguments("dropout", config.layout), **native}
        return PaddleDropout(self._class("dropout", config), config.dtype, native)

    def attention(self, config):
        return PaddleAttention(self._class("attention", config), config.dtype, config.sizes["embed"], config.sizes["heads"],
                               config.native)


def make_adapter(flavour, device: str = "cpu") -> PaddleAdapter:
    return PaddleAdapter(flavour, device)
