"""torch.export: the torch flavour's modules exported by torch.export.export and run through
ExportedProgram.module(), as a deployed program runs. Two flavours: torch-export runs the exported program
itself (the training IR), torch-export-decomposed (manifest ``options: {decompose: true}``) the program after
ep.run_decompositions() (the core ATen operator set, what downstream compilers consume).

The mode is fixed at export: the module of an exported program refuses train() and eval()
(NotImplementedError), so each configuration has a training program, exported after module.train(), and an
inference program, exported after module.eval(), and a call runs the program of its mode. A program is
exported once per configuration (module class and arguments, input dtype, mode, input shape but the batch)
and shared by every layer of that configuration: the batch dimension is exported dynamic (torch.export.Dim,
from an example batch of two), as served programs take any batch size; the other dimensions are static (a
dynamic one makes each export twice as slow, and the checks use few shapes).

Every module unlifted from one ExportedProgram holds that program's state tensors (and the exporting
module's), so a layer keeps its state as a state_dict: loaded into the program's module by load_state_dict
before a call, read back from the module's state_dict() after it. A missing update of the running statistics
in the program therefore shows in state(). Gradients and the SGD step run autograd through the unlifted graph;
freezing is requires_grad_(False) on the program module's parameters; reloading is torch.export.save and
torch.export.load of the programs.
"""
import functools
import io

import numpy as np
import torch

from layerconf import cache
from layerconf.adapters.pytorch import STATE, TorchAdapter, TorchBatchNorm, TorchDropout, no_silent_eager_fallback, to_numpy, to_tensor

SOURCE = cache.code_digest(__file__)   # how this module exports: part of a program's key
EXAMPLE_BATCH = 2   # export specialises an example dimension of size 0 or 1, so the batch is exported from two


def signature_of(x) -> tuple:
    """What a program is specialised to in an input's shape: all of it but the batch dimension."""
    return tuple(np.shape(x)[1:])


@functools.cache
def exported(recipe: tuple, training: bool, signature: tuple, decomposed: bool):
    """(ExportedProgram, its module()) of the layer ``recipe`` names, (layer class, its arguments..., native
    arguments as items), in the mode ``training``, for inputs of shape (batch, *signature). A program an earlier
    run exported (and decomposed) for the same torch and configuration is read back from layerconf's cache by
    torch.export.load (layerconf.cache.artefact) instead of exported again."""
    def export():
        layer_class, *arguments, native = recipe
        layer = layer_class(*arguments, dict(native))
        dynamic = {0: torch.export.Dim("batch")}
        example = to_tensor(np.zeros((EXAMPLE_BATCH, *signature)), layer.dtype, layer.device)
        program = torch.export.export(layer.runner.train(training), (example,), dynamic_shapes=(dynamic,))
        return program.run_decompositions(decomp_table=core_aten()) if decomposed else program

    key = (torch.__version__, torch.version.git_version, recipe, training, signature, decomposed, SOURCE)
    program = cache.artefact("torch-export", key, export, dump=_saved, load=lambda data: torch.export.load(io.BytesIO(data)))
    return program, program.module()


def _saved(program) -> bytes:
    """torch.export.save's bytes of ``program``."""
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


@functools.cache
def core_aten() -> dict:
    """run_decompositions' default table (the core ATen decompositions), materialized once for every program
    rather than once per call (about 0.1 s of the 0.7 s a call takes in torch 2.15)."""
    return torch.export.default_decompositions().materialize()


class _Exported:
    """A layer run through exported programs. ``recipe`` names its configuration (see ``exported``);
    ``loaded`` holds the programs reloaded() read back, by (training, signature), which it runs instead."""

    def _setup(self, decomposed: bool, layer_class, *arguments):
        self.decomposed, self.loaded = decomposed, {}
        *head, native = arguments
        self.recipe = (layer_class, *head, tuple(sorted(native.items())))

    def _program(self, training: bool, signature: tuple):
        """(ExportedProgram, module) for this layer's configuration in that mode and input signature."""
        return self.loaded.get((training, signature)) or exported(self.recipe, training, signature, self.decomposed)

    def _deployed(self, training: bool, x) -> torch.fx.GraphModule:
        """The program module that runs ``x`` in that mode."""
        return self._program(training, signature_of(x))[1]


class ExportBatchNorm(_Exported, TorchBatchNorm):
    """``saved``: the layer's state_dict, as the last program run left it (before any call: the module's own,
    which export captures); ``signature``: that of the last input (see ``signature_of``)."""

    def __init__(self, decomposed: bool, cls: str, channels: int, dtype: str, device: str, native: dict):
        super().__init__(cls, channels, dtype, device, native)
        self._setup(decomposed, TorchBatchNorm, cls, channels, dtype, device, native)
        self.saved = {k: v.clone() for k, v in self.runner.state_dict().items()}
        self.frozen, self.signature = False, None

    def _call(self, x, training: bool, run):
        """run(module) on the program module for ``x`` in that mode, this layer's state loaded into it and its
        parameters frozen or not; the state read back from the module afterwards."""
        module = self._deployed(training, x)
        module.load_state_dict(self.saved)
        module.requires_grad_(not self.frozen)
        result = run(module)
        self.saved = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self.signature = signature_of(x)
        return result

    def forward(self, x, training):
        with torch.no_grad():
            return self._call(x, training, lambda module: to_numpy(module(self._input(x))))

    def state(self):
        return {k: to_numpy(self.saved[a]) if a in self.saved else None for k, a in STATE.items()}

    def set_state(self, **arrays):
        for key, value in arrays.items():
            old = self.saved[STATE[key]]
            self.saved[STATE[key]] = torch.as_tensor(np.asarray(value, dtype=np.float64)).to(old)

    def freeze(self):
        self.frozen = True

    def gradients(self, x, dy, training):
        return self._call(x, training, lambda module: self._gradients_of(module, x, dy))

    def sgd_step(self, x, dy, lr, training):
        return self._call(x, training, lambda module: self._step_of(module, x, dy, lr))

    def reloaded(self):
        """A fresh layer running this layer's two programs for the signature of its last input, each holding this
        layer's state, saved by torch.export.save and read back by torch.export.load (programs are specialised to
        a signature, so a layer that has run nothing has none to save)."""
        if self.signature is None:
            raise RuntimeError("reloaded() saves the exported programs of the last call; this layer has run none")
        fresh = ExportBatchNorm(self.decomposed, *self.build)
        for training in (True, False):
            program, module = self._program(training, self.signature)
            module.load_state_dict(self.saved)   # in place: the program's state_dict holds the module's tensors
            loaded = torch.export.load(io.BytesIO(_saved(program)))
            fresh.loaded[(training, self.signature)] = (loaded, loaded.module())
        fresh.saved = {k: v.detach().clone() for k, v in fresh.loaded[(True, self.signature)][1].state_dict().items()}
        fresh.signature = self.signature
        return fresh


class ExportDropout(_Exported, TorchDropout):
    def __init__(self, decomposed: bool, cls: str, dtype: str, device: str, native: dict):
        super().__init__(cls, dtype, device, native)
        self._setup(decomposed, TorchDropout, cls, dtype, device, native)

    def forward(self, x, training):
        with torch.no_grad():
            return to_numpy(self._deployed(training, x)(self._input(x)))

    def forward_and_grad(self, x, dy):
        return self._forward_and_grad_of(self._deployed(True, x), x, dy)


class ExportAdapter(TorchAdapter):
    """torch's adapter (device, seeding, numerics settings) with layers run as exported programs."""

    def __init__(self, flavour, device: str):
        super().__init__(flavour, device)
        self.decomposed = flavour.option("decompose", False)
        no_silent_eager_fallback()   # strict export (the default before torch 2.7) traces with dynamo, whose
        # recompile limit counts every export of _BatchNorm.forward in the process

    def environment(self):
        execution = "torch.export + run_decompositions()" if self.decomposed else "torch.export"
        kept = cache.artefacts_folder("torch-export")
        return {**super().environment(), "execution": execution, "programs_kept_in": str(kept) if kept else None}

    def builders(self):
        return {"batchnorm": self.batchnorm, "dropout": self.dropout}

    def batchnorm(self, config):
        return ExportBatchNorm(self.decomposed, self._class("batchnorm", config), config.channels, config.dtype,
                               self.device, config.native)

    def dropout(self, config):
        return ExportDropout(self.decomposed, self._class("dropout", config), config.dtype, self.device, config.native)


def make_adapter(flavour, device: str = "cpu") -> ExportAdapter:
    return ExportAdapter(flavour, device)
