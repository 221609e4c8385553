"""A fake flavour for the plugin's self-tests: element dropout written in NumPy, seeded through the adapter's
seed() as the adapter contract says, so the real conformance tests and the real plugin run with no
framework installed. It is a test double of an adapter, never a flavour of the suite: only the self-tests
register it (test_plugin.py's ``install``; the packages of test_external.py and test_wheel_install.py)."""
from pathlib import Path

import numpy as np

from layerconf import flavours, specs
from layerconf.adapters.base import Adapter, DropoutLayer

MANIFEST = {"title": "a fake flavour for the self-tests", "adapter": "tests.self.fake_flavour", "extra": "dev",
            "imports": ["numpy"], "environment": {}, "devices": ["cpu"], "deviations": ["fake"],
            "mutants": ["tests.self.fake_flavour"], "matrix": {}}
PROFILE = {"dtypes": ["float64", "float32"],
           "batchnorm": {"layouts": {}, "arguments": {"decay": {"name": "momentum"}, "eps": {"name": "eps"}},
                         "defaults": {"decay": 0.9, "eps": 1e-5},
                         "initial": {"running_mean": 0.0, "running_var": 1.0, "gamma": 1.0, "beta": 0.0},
                         "running_var_correction": "biased", "batch_size_one": "beta"},
           "dropout": {"arguments": {"rate": {"name": "rate"}}, "variants": {"element": "FakeDropout"}, "rate_one": "zeros"}}


class FakeDropout(DropoutLayer):
    """y = x m / (1 - rate), m ~ Bernoulli(1 - rate), from the adapter's generator; no validation of the rate."""

    def __init__(self, adapter, rate):
        self.adapter, self.rate = adapter, rate

    def forward(self, x, training):
        if not training:
            return np.array(x)
        if self.rate >= 1:
            return np.zeros_like(x)
        keep = self.adapter.rng.uniform(size=np.shape(x)) >= self.rate
        return (x * keep / (1 - self.rate)).astype(x.dtype)

    def forward_and_grad(self, x, dy):
        y = self.forward(x, True)
        return y, np.where(y != 0, dy / (1 - self.rate), 0.0).astype(x.dtype)


class FakeAdapter(Adapter):
    def __init__(self, flavour, device):
        super().__init__(flavour, device)
        self.rng = np.random.default_rng(0)

    def version(self):
        return "1.0"

    def environment(self):
        return {"device": "cpu"}

    def seed(self, seed):
        self.rng = np.random.default_rng(seed)

    def builders(self):
        return {"dropout": lambda config: FakeDropout(self, config.native["rate"])}


def make_adapter(flavour, device="cpu"):
    return FakeAdapter(flavour, device)


def install(monkeypatch, declarations=()):
    """Register the fake flavour (manifest, profile, declarations) for the rest of the test."""
    real_names, real_manifest, real_profile = specs.flavour_names, specs.manifest, specs.profile
    monkeypatch.setattr(specs, "flavour_names", lambda *a: sorted([*real_names(*a), "fake"]))
    monkeypatch.setattr(specs, "manifest", lambda name, *a: MANIFEST if name == "fake" else real_manifest(name, *a))
    monkeypatch.setattr(specs, "profile", lambda name, *a: specs.Profile("fake", PROFILE, Path("fake.yaml"))
                        if name == "fake" else real_profile(name, *a))
    monkeypatch.setattr(specs, "deviation_file", lambda name, *directory: tuple(declarations))
    monkeypatch.setattr(flavours, "installed", lambda name: name == "fake")
