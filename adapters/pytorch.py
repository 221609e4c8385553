"""PyTorch: torch.nn modules in train()/eval() mode, torch.autograd, torch.optim.SGD.

Flavour torch calls the modules eagerly; a flavour whose manifest sets ``options: {compile: true}``
(torch-compile) calls ``torch.compile(module, fullgraph=True)`` (the default inductor backend) and switches
train()/eval(), steps the optimizer, saves and loads through the compiled module, as its users do.

Quirks kept here: float16/bfloat16 inputs run through a float32 module (mixed precision the way
autocast leaves normalization layers); the module class per layout and variant comes from the profile.
"""
import importlib
import io
import os

import ml_dtypes
import numpy as np
import torch

from layerconf import cache
from layerconf.adapters.base import (
    Adapter,
    AttentionLayer,
    BatchNormLayer,
    DeviceUnavailable,
    DropoutLayer,
    Layer,
    LayerConfig,
    RecurrentLayer,
    gate_blocks,
)

DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
STATE = {"running_mean": "running_mean", "running_var": "running_var", "gamma": "weight", "beta": "bias"}
# a kernel's memory_format (profile <section>.kernels) by the input's rank: torch.channels_last is 4-d only
MEMORY_FORMATS = {"channels_last": {4: torch.channels_last, 5: torch.channels_last_3d}}


def to_tensor(x, dtype: torch.dtype, device: str, requires_grad: bool = False) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float64)).to(device=device, dtype=dtype)
    return t.requires_grad_(requires_grad)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return t.float().numpy().astype(ml_dtypes.bfloat16) if t.dtype == torch.bfloat16 else t.numpy()


def no_silent_eager_fallback() -> None:
    """dynamo compiles every configuration a process asks for, and reaching a limit is an error: at its default
    recompile limit (8 per function) it would run the 9th configuration eagerly with only a warning."""
    config = torch._dynamo.config
    for name, value in (("recompile_limit", 10_000), ("cache_size_limit", 10_000), ("accumulated_recompile_limit",
                        100_000), ("accumulated_cache_size_limit", 100_000), ("fail_on_recompile_limit_hit", True),
                        ("fail_on_cache_limit_hit", True)):
        if hasattr(config, name):   # the names changed in torch 2.7 (cache_size_limit -> recompile_limit)
            setattr(config, name, value)


def start_compiler() -> None:
    """torch.compile in a process of many configurations: inductor keeps its programs in layerconf's cache folder
    (layerconf.cache), and no configuration silently runs eagerly (``no_silent_eager_fallback``)."""
    where = cache.folder("torchinductor")
    if where is not None:
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(where))
    no_silent_eager_fallback()


def _gradient(module, name: str):
    """The gradient of the module's parameter ``name``; None without that parameter or without a gradient."""
    parameter = getattr(module, name, None)
    return None if parameter is None or parameter.grad is None else to_numpy(parameter.grad)


class _ModuleRunner:
    """Runs a module through ``self.runner`` (the module itself, or its torch.compile wrapper, through which
    every call, mode switch, state access and optimizer goes) on NumPy input of ``self.dtype``.

    A kernel other than the default (LayerConfig.kernel): ``memory_format`` converts every input (and the module) to
    that memory format, as users do (``x.to(memory_format=torch.channels_last)``, ``model.to(memory_format=...)``);
    ``writes_input`` (an in-place module) keeps the caller's input tensor, for ``input_after``."""

    memory_format, writes_input = None, False

    def _kernel(self, module, kernel: dict):
        """The module converted for the kernel ``kernel`` (the profile's entry; empty: the default path)."""
        self.memory_format, self.writes_input = kernel.get("memory_format"), bool(kernel.get("writes_input"))
        return module.to(memory_format=torch.channels_last) if self.memory_format else module

    def _input(self, x, requires_grad=False):
        t = to_tensor(x, self.dtype, self.device)
        if self.writes_input:   # a float64 tensor on the CPU shares the test's NumPy array: the module writes a copy
            t = t.clone()
        if self.memory_format:
            t = t.contiguous(memory_format=MEMORY_FORMATS[self.memory_format][t.ndim])
        return t.requires_grad_(requires_grad)

    def _invoke(self, module, t):
        """module(t), keeping t, the caller's input, for ``input_after``."""
        self.caller_input = t
        return module(t)

    def input_after(self):
        return to_numpy(self.caller_input)

    def _run(self, module, compile_: bool):
        """fullgraph=True except for the cumulative average (momentum=None), whose factor
        1/float(num_batches_tracked) is data-dependent: dynamo refuses it whole ("Could not guard on
        data-dependent expression", pytorch#194504), so it runs as users run it after that error, split at a
        graph break."""
        whole = getattr(module, "momentum", 0.0) is not None
        self.runner = torch.compile(module, fullgraph=whole) if compile_ else module

    def forward(self, x, training):
        self.runner.train(training)
        with torch.no_grad():
            return to_numpy(self._invoke(self.runner, self._input(x)))

    def _backprop(self, module, x, dy) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, x as a leaf tensor) after backward of L = sum(dy * y), y = module(x) (the module's gradients reset
        first). An in-place module is called on a copy of x (x.clone(), its memory format kept): autograd refuses an
        in-place write to a leaf that requires grad, so its users' input is always an intermediate result."""
        module.zero_grad(set_to_none=True)
        xt = self._input(x, requires_grad=True)
        y = self._invoke(module, xt.clone() if self.writes_input else xt)
        (y * self._input(dy)).sum().backward()
        return y, xt

    def _forward_and_grad_of(self, module, x, dy) -> tuple[np.ndarray, np.ndarray]:
        """(y, dL/dx) of one call of ``module``, L = sum(dy * y)."""
        y, xt = self._backprop(module, x, dy)
        return to_numpy(y), to_numpy(xt.grad)


class _NormModule(_ModuleRunner):
    """A normalization module (BatchNorm*d, InstanceNorm*d, ...) built as ``cls(channels, **native)`` (a lazy class,
    channels None: ``cls(**native)``) with float32 parameters for float16/bfloat16 input; its state by STATE."""

    def __init__(self, cls: str, channels: int | None, dtype: str, device: str, native: dict, compile_: bool = False,
                 kernel: dict | None = None):
        self.build, self.compiled, self.kernel = (cls, channels, dtype, device, native), compile_, kernel or {}
        self.dtype, self.device = DTYPES[dtype], device
        param_dtype = torch.float64 if dtype == "float64" else torch.float32
        module = getattr(torch.nn, cls)(**native) if channels is None else getattr(torch.nn, cls)(channels, **native)
        self._run(self._kernel(module.to(device=device, dtype=param_dtype), self.kernel), compile_)

    def state(self):
        return {k: None if getattr(self.runner, a) is None else to_numpy(getattr(self.runner, a))
                for k, a in STATE.items()}

    def set_state(self, **arrays):
        with torch.no_grad():
            for key, value in arrays.items():
                target = getattr(self.runner, STATE[key])
                target.copy_(torch.as_tensor(np.asarray(value, dtype=np.float64)))


class TorchBatchNorm(_NormModule, BatchNormLayer):
    def freeze(self):
        self.runner.requires_grad_(False)

    def _gradients_of(self, module, x, dy) -> dict:
        _, xt = self._backprop(module, x, dy)
        return {"x": to_numpy(xt.grad), "gamma": _gradient(module, "weight"), "beta": _gradient(module, "bias")}

    def _step_of(self, module, x, dy, lr) -> np.ndarray:
        """One torch.optim.SGD step over the module's parameters; dL/dx of that step."""
        optimizer = torch.optim.SGD(module.parameters(), lr=lr)
        _, xt = self._backprop(module, x, dy)
        optimizer.step()
        return to_numpy(xt.grad)

    def gradients(self, x, dy, training):
        self.runner.train(training)
        return self._gradients_of(self.runner, x, dy)

    def sgd_step(self, x, dy, lr, training):
        self.runner.train(training)
        return self._step_of(self.runner, x, dy, lr)

    def reloaded(self):
        buffer = io.BytesIO()
        torch.save(self.runner.state_dict(), buffer)
        buffer.seek(0)
        fresh = TorchBatchNorm(*self.build, self.compiled, self.kernel)
        fresh.runner.load_state_dict(torch.load(buffer))
        return fresh


class TorchInstanceNorm(_NormModule, Layer):
    def forward_and_grad(self, x, dy, training):
        self.runner.train(training)
        return self._forward_and_grad_of(self.runner, x, dy)


class TorchDropout(_ModuleRunner, DropoutLayer):
    def __init__(self, cls: str, dtype: str, device: str, native: dict, compile_: bool = False, kernel: dict | None = None):
        self._run(self._kernel(getattr(torch.nn, cls)(**native), kernel or {}), compile_)
        self.dtype, self.device = DTYPES[dtype], device

    def forward_and_grad(self, x, dy):
        self.runner.train(True)
        return self._forward_and_grad_of(self.runner, x, dy)


class TorchAttention(AttentionLayer):
    """nn.MultiheadAttention(embed, heads, dropout=p, batch_first=True) in the dtype; packed in_proj_weight (3E, E)
    and out_proj as y = x W^T + b (state keys: adapters/base.AttentionLayer)."""

    def __init__(self, cls: str, dtype: str, device: str, embed: int, heads: int, native: dict):
        self.dtype, self.device, self.embed, self.heads, self.native = DTYPES[dtype], device, embed, heads, native
        self.module = getattr(torch.nn, cls)(embed, heads, batch_first=True, **native).to(device=device, dtype=self.dtype)

    def _input(self, x):
        return to_tensor(x, self.dtype, self.device)

    def attend(self, query, key, value, training, weights=False):
        self.module.train(training)
        y, w = self.module(*map(self._input, (query, key, value)), need_weights=weights, average_attn_weights=False)
        return to_numpy(y), None if w is None else to_numpy(w)

    def attend_fast(self, x):
        self.module.eval()
        with torch.no_grad():   # the fast path's conditions: eval, no autograd, need_weights=False, query is key is value
            t = self._input(x)
            return to_numpy(self.module(t, t, t, need_weights=False)[0])

    def encoder(self, x, path):
        torch.manual_seed(0)   # the same initial weights for every path
        rate = 0.0 if path == "train" else self.native["dropout"]
        layer = torch.nn.TransformerEncoderLayer(self.embed, self.heads, 2 * self.embed, dropout=rate, batch_first=True)
        layer = layer.to(device=self.device, dtype=self.dtype).train(path == "train")
        t = self._input(x)
        if path == "fast":
            with torch.no_grad():
                return to_numpy(layer(t))
        return to_numpy(layer(t))   # grad enabled with parameters requiring it: the general path

    def state(self):
        e, h = self.embed, self.heads
        w, b = self.module.in_proj_weight.detach(), self.module.in_proj_bias.detach()
        out = {}
        for i, name in enumerate("qkv"):
            out[f"{name}_kernel"] = to_numpy(w[i * e:(i + 1) * e].T).reshape(e, h, e // h)
            out[f"{name}_bias"] = to_numpy(b[i * e:(i + 1) * e]).reshape(h, e // h)
        out["o_kernel"] = to_numpy(self.module.out_proj.weight.detach().T).reshape(h, e // h, e)
        out["o_bias"] = to_numpy(self.module.out_proj.bias.detach())
        return out

    def set_state(self, **arrays):
        e = self.embed
        with torch.no_grad():
            for i, name in enumerate("qkv"):
                if f"{name}_kernel" in arrays:
                    self.module.in_proj_weight[i * e:(i + 1) * e] = self._input(arrays[f"{name}_kernel"].reshape(e, e).T)
                if f"{name}_bias" in arrays:
                    self.module.in_proj_bias[i * e:(i + 1) * e] = self._input(arrays[f"{name}_bias"].reshape(e))
            if "o_kernel" in arrays:
                self.module.out_proj.weight.copy_(self._input(arrays["o_kernel"].reshape(e, e).T))
            if "o_bias" in arrays:
                self.module.out_proj.bias.copy_(self._input(arrays["o_bias"]))


class TorchLayer(_ModuleRunner, Layer):
    """A module of one input without parameters (nn.RReLU, torchvision.ops.StochasticDepth, ...) run on input of
    ``dtype``: float16 and bfloat16 inputs reach it as they are."""

    def __init__(self, module, dtype: str, device: str, compile_: bool = False, kernel: dict | None = None):
        self._run(self._kernel(module, kernel or {}), compile_)
        self.dtype, self.device = DTYPES[dtype], device

    def forward_and_grad(self, x, dy, training):
        self.runner.train(training)
        return self._forward_and_grad_of(self.runner, x, dy)


class TorchRecurrent(_ModuleRunner, RecurrentLayer):
    """nn.RNN / LSTM / GRU of num_layers stacked layers, batch_first=True; float16/bfloat16 input into a float32
    module, as for BatchNorm. Weights: weight_ih_l{k} = kernel^T, weight_hh_l{k} = recurrent_kernel^T, bias_ih_l{k},
    bias_hh_l{k}, the gate rows in the profile's recurrent.gates order."""

    def __init__(self, cls, cell, gates, layers, features, units, dtype, device, native, compile_=False):
        self.dtype, self.device, self.cell, self.gates = DTYPES[dtype], device, cell, gates
        param_dtype = torch.float64 if dtype == "float64" else torch.float32
        module = getattr(torch.nn, cls)(features, units, num_layers=layers, batch_first=True, **native)
        self._run(module.to(device=device, dtype=param_dtype), compile_)

    def forward(self, x, training):
        self.runner.train(training)
        with torch.no_grad():
            return to_numpy(self.runner(self._input(x))[0])

    def set_weights(self, layers):
        names = (("weight_ih", "kernel"), ("weight_hh", "recurrent_kernel"), ("bias_ih", "bias"), ("bias_hh", "recurrent_bias"))
        with torch.no_grad():
            for k, w in enumerate(layers):
                for name, key in names:
                    getattr(self.runner, f"{name}_l{k}").copy_(torch.as_tensor(gate_blocks(w[key], self.cell, self.gates).T))


def module_class(cls: str):
    """The module class the profile names: a torch.nn class by its name (RReLU), any other by its dotted path
    (torchvision.ops.StochasticDepth, imported here: the flavours that reuse this adapter do not all install it)."""
    if "." not in cls:
        return getattr(torch.nn, cls)
    module, _, name = cls.rpartition(".")
    return getattr(importlib.import_module(module), name)


class TorchAdapter(Adapter):
    def __init__(self, flavour, device: str):
        if device == "cuda" and not torch.cuda.is_available():
            raise DeviceUnavailable(f"--device cuda: torch {torch.__version__} sees no CUDA device "
                                    "(torch.cuda.is_available() is False); its devices: cpu")
        super().__init__(flavour, device)
        self.compile = flavour.option("compile", False)
        if self.compile:
            start_compiler()
        if device == "cuda":   # CUDA kernels may race; the CPU kernels of these layers are deterministic, and the
            torch.use_deterministic_algorithms(True)   # setting costs ~3 s of import (it loads torch._dynamo)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    def version(self):
        return torch.__version__

    def environment(self):
        return {
            "device": str(torch.empty(0, device=self.device).device),
            "threads": torch.get_num_threads(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "tf32": torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32,
            "execution": "torch.compile(fullgraph=True), inductor" if self.compile else "eager",
        }

    def seed(self, seed):
        torch.manual_seed(seed)

    def _class(self, section: str, config: LayerConfig) -> str:
        return self.profile.layer_class(section, config.kind, config.layout)

    def builders(self):
        return {"batchnorm": self.batchnorm, "dropout": self.dropout, "attention": self.attention,
                "instance_norm": self.instance_norm, "batchnorm_variants": self.batchnorm_variants,
                "recurrent": self.recurrent, "replicas": self.replicas, "models": self.models}

    def replicas(self, config):
        from layerconf.adapters import torch_replicas
        return torch_replicas.build(self.profile, config, self.device)

    def models(self, config):
        """The nested model of adapters.pytorch_models (config.kind: the container; native: each layer's arguments)."""
        from layerconf.adapters.pytorch_models import TorchNestedModel
        return TorchNestedModel(config.kind, config.channels, config.native, DTYPES[config.dtype], self.device)

    def one_input(self, cls, config):
        return TorchLayer(module_class(cls)(**config.native), config.dtype, self.device, self.compile, config.kernel)

    def batchnorm(self, config):
        return TorchBatchNorm(self._class("batchnorm", config), config.channels, config.dtype, self.device,
                              config.native, self.compile, config.kernel)

    def dropout(self, config):
        return TorchDropout(self._class("dropout", config), config.dtype, self.device, config.native, self.compile,
                            config.kernel)

    def attention(self, config):
        return TorchAttention(self._class("attention", config), config.dtype, self.device, config.sizes["embed"],
                              config.sizes["heads"], config.native)

    def instance_norm(self, config):
        return TorchInstanceNorm(self._class("instance_norm", config), config.channels, config.dtype, self.device,
                                 config.native, self.compile)

    def batchnorm_variants(self, config):
        """'sync' (SyncBatchNorm in one process) and 'lazy' (LazyBatchNorm*d: config.channels is None)."""
        return TorchBatchNorm(self._class("batchnorm_variants", config), config.channels, config.dtype, self.device,
                              config.native, self.compile)

    def recurrent(self, config):
        return TorchRecurrent(self._class("recurrent", config), config.kind,
                              self.profile.get("recurrent.gates", {}).get(config.kind), config.sizes["layers"],
                              config.sizes["features"], config.sizes["units"], config.dtype, self.device,
                              config.native, self.compile)


def make_adapter(flavour, device: str = "cpu") -> TorchAdapter:
    return TorchAdapter(flavour, device)
