"""PyTorch: torch.nn modules in train()/eval() mode, torch.autograd, torch.optim.SGD.

Quirks kept here: float16/bfloat16 inputs run through a float32 module (mixed precision the way
autocast leaves normalization layers); the module class per layout and variant comes from the profile.
"""
import io

import ml_dtypes
import numpy as np
import torch

from layerconf import specs
from layerconf.adapters.base import Adapter, BatchNormLayer, DeviceUnavailable, DropoutLayer

DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
STATE = {"running_mean": "running_mean", "running_var": "running_var", "gamma": "weight", "beta": "bias"}


def to_tensor(x, dtype: torch.dtype, device: str, requires_grad: bool = False) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float64)).to(device=device, dtype=dtype)
    return t.requires_grad_(requires_grad)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return t.float().numpy().astype(ml_dtypes.bfloat16) if t.dtype == torch.bfloat16 else t.numpy()


class _ModuleRunner:
    """Runs ``self.module`` on NumPy input of ``self.dtype`` in train() or eval() mode."""

    def _input(self, x, requires_grad=False):
        return to_tensor(x, self.dtype, self.device, requires_grad)

    def forward(self, x, training):
        self.module.train(training)
        with torch.no_grad():
            return to_numpy(self.module(self._input(x)))


class TorchBatchNorm(_ModuleRunner, BatchNormLayer):
    def __init__(self, cls: str, channels: int, dtype: str, device: str, native: dict):
        self.build = (cls, channels, dtype, device, native)
        self.dtype, self.device = DTYPES[dtype], device
        param_dtype = torch.float64 if dtype == "float64" else torch.float32
        self.module = getattr(torch.nn, cls)(channels, **native).to(device=device, dtype=param_dtype)

    def state(self):
        return {k: None if getattr(self.module, a) is None else to_numpy(getattr(self.module, a))
                for k, a in STATE.items()}

    def set_state(self, **arrays):
        with torch.no_grad():
            for key, value in arrays.items():
                target = getattr(self.module, STATE[key])
                target.copy_(torch.as_tensor(np.asarray(value, dtype=np.float64)))

    def freeze(self):
        self.module.requires_grad_(False)

    def _backward(self, x, dy, training):
        self.module.train(training)
        self.module.zero_grad(set_to_none=True)
        xt = self._input(x, requires_grad=True)
        (self.module(xt) * self._input(dy)).sum().backward()
        return xt

    def gradients(self, x, dy, training):
        xt = self._backward(x, dy, training)
        grad = lambda p: None if p is None or p.grad is None else to_numpy(p.grad)  # noqa: E731
        return {"x": to_numpy(xt.grad), "gamma": grad(self.module.weight), "beta": grad(self.module.bias)}

    def sgd_step(self, x, dy, lr, training):
        optimizer = torch.optim.SGD(self.module.parameters(), lr=lr)
        xt = self._backward(x, dy, training)
        optimizer.step()
        return to_numpy(xt.grad)

    def reloaded(self):
        buffer = io.BytesIO()
        torch.save(self.module.state_dict(), buffer)
        buffer.seek(0)
        fresh = TorchBatchNorm(*self.build)
        fresh.module.load_state_dict(torch.load(buffer))
        return fresh


class TorchDropout(_ModuleRunner, DropoutLayer):
    def __init__(self, cls: str, dtype: str, device: str, native: dict):
        self.module = getattr(torch.nn, cls)(**native)
        self.dtype, self.device = DTYPES[dtype], device

    def forward_and_grad(self, x, dy):
        self.module.train(True)
        xt = self._input(x, requires_grad=True)
        y = self.module(xt)
        (y * self._input(dy)).sum().backward()
        return to_numpy(y), to_numpy(xt.grad)


class TorchAdapter(Adapter):
    name = "torch"

    def __init__(self, device: str):
        if device == "cuda" and not torch.cuda.is_available():
            raise DeviceUnavailable(f"--device cuda: torch {torch.__version__} sees no CUDA device "
                                    "(torch.cuda.is_available() is False); its devices: cpu")
        self.device = device
        self.profile = specs.profile("torch")
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
        }

    def seed(self, seed):
        torch.manual_seed(seed)

    def batchnorm(self, layout, channels, dtype, **native):
        return TorchBatchNorm(self.profile.get("batchnorm.layouts")[layout], channels, dtype, self.device, native)

    def dropout(self, variant, layout, dtype, **native):
        cls = self.profile.get(f"dropout.variants.{variant}")
        return TorchDropout(cls[layout] if isinstance(cls, dict) else cls, dtype, self.device, native)


def make_adapter(name: str = "torch", device: str = "cpu") -> TorchAdapter:
    return TorchAdapter(device)
