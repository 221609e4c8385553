"""PyTorch: layers inside models (profile models, adapters.base.NestedModel).

The model is what a PyTorch user writes: an nn.Module whose ``base`` submodule holds BatchNorm1d and Dropout in
the container the case names (nn.Sequential, nn.ModuleList, nn.ModuleDict), and an nn.Linear head. The mode is
set by Module.train()/eval() on the model or on its base; the state is the model's state_dict(); freezing is
requires_grad_(False) on the base with torch.optim.SGD over the parameters that still require gradients; saving is
torch.save(state_dict) and load_state_dict into a fresh model.
"""
import io

import numpy as np
import torch
from torch import nn

from layerconf.adapters.base import NestedModel, container, through

ENTRIES = {"sequential": ("0", "1"), "list": ("0", "1"), "dict": ("bn", "drop")}
NAMES = {"running_mean": "running_mean", "running_var": "running_var", "gamma": "weight", "beta": "bias"}


class Base(nn.Module):
    """The base: a container of BatchNorm1d then Dropout, called the way users call each container."""

    def __init__(self, kind: str, channels: int, native: dict):
        super().__init__()
        self.kind = kind
        bn, drop = nn.BatchNorm1d(channels, **native["batchnorm"]), nn.Dropout(**native["dropout"])
        self.blocks = container(kind, {"sequential": nn.Sequential, "list": nn.ModuleList, "dict": nn.ModuleDict}, bn, drop)

    def forward(self, x):
        return through(self.kind, self.blocks, x)


class Model(nn.Module):
    def __init__(self, kind: str, channels: int, native: dict):
        super().__init__()
        self.base = Base(kind, channels, native)
        self.head = nn.Linear(channels, 1)

    def forward(self, x):
        h = self.base(x)
        return h, self.head(h)


class TorchNestedModel(NestedModel):
    def __init__(self, kind: str, channels: int, native: dict, dtype: torch.dtype, device: str):
        self.build = (kind, channels, native, dtype, device)
        self.dtype, self.device = dtype, device
        self.model = Model(kind, channels, native).to(device=device, dtype=dtype)
        bn = f"base.blocks.{ENTRIES[kind][0]}."
        self.names = {**{key: bn + name for key, name in NAMES.items()}, "kernel": "head.weight", "bias": "head.bias"}

    def _tensor(self, x):
        return torch.as_tensor(np.asarray(x, dtype=np.float64)).to(device=self.device, dtype=self.dtype)

    def set_mode(self, training, part="model"):
        (self.model if part == "model" else getattr(self.model, part)).train(training)

    def run(self, x):
        with torch.no_grad():
            h, p = self.model(self._tensor(x))
        return h.cpu().numpy(), p.cpu().numpy()

    def state_names(self):
        return dict(self.names)

    def state(self):
        sd = self.model.state_dict()
        out = {key: sd[name].detach().cpu().numpy().copy() for key, name in self.names.items()}
        out["kernel"] = out["kernel"].T.copy()
        return out

    def set_state(self, **arrays):
        sd = {self.names[key]: self._tensor(np.asarray(v).T if key == "kernel" else v) for key, v in arrays.items()}
        self.model.load_state_dict(sd, strict=False)

    def freeze_base(self):
        self.model.base.requires_grad_(False)

    def sgd_step(self, x, t, lr):
        optimizer = torch.optim.SGD([p for p in self.model.parameters() if p.requires_grad], lr=lr)
        optimizer.zero_grad()
        h, p = self.model(self._tensor(x))
        loss = nn.functional.mse_loss(p, self._tensor(t))
        loss.backward()
        optimizer.step()
        return h.detach().cpu().numpy(), float(loss.detach())

    def pitfall(self):
        self.model.train()   # the start of each epoch's loop, after base.eval()

    def reloaded(self):
        buffer = io.BytesIO()
        torch.save(self.model.state_dict(), buffer)
        buffer.seek(0)
        fresh = TorchNestedModel(*self.build)
        fresh.model.load_state_dict(torch.load(buffer))
        return fresh
