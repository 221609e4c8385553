"""The audit's ONNX part, for ``--compare``'s side B given as a .onnx file: the graph run by ONNX Runtime as the
onnxruntime flavour runs its models (adapters/onnxruntime.py: CPU, ORT's default optimization level).

Layers: every BatchNormalization and Dropout node in graph order, and every node an exporter's optimizer fused a
BatchNorm into (the dynamo exporter's metadata ``pkg.onnxscript.rewriter.rule_name`` FuseBatchNormInto...). A
layer's path is the module path its exporter recorded: the dynamo exporter's ``pkg.torch.onnx.name_scopes``, the
TorchScript exporter's node name (/backbone/layer1/layer1.0/bn1/BatchNormalization); else the node's name.
Mode: fixed at export (BatchNormalization's training_mode attribute, Dropout's training_mode input, a constant),
so the step and the inference call each run the one graph on the batch, its layers' inputs and outputs made graph
outputs; a training_mode fed as a graph input is fed True in the step and False in inference.
State: a BatchNormalization's scale, B, input_mean and input_var. After the step: the running outputs where the
graph outputs them, else its initializers as they were (nothing else carries them over). Weights never change.
"""
import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layerconf.audit import neutral
from layerconf.audit.records import INFERENCE, TRAINING, Call, Layer, Observed
from layerconf.audit.target import AuditError

FLAVOUR = "onnxruntime"   # whose profile reads the nodes' attributes, and whose adapter makes the sessions
KEPT = "unchanged: the file is read, never written"
STEP = "the graph run once on the batch (an ONNX graph's mode is fixed at export)"
FAMILIES = {"BatchNormalization": ("batchnorm", None), "Dropout": ("dropout", "element")}
LAYOUTS = {2: "NC", 3: "NCL", 4: "NCHW", 5: "NCDHW"}
STATE = ("gamma", "beta", "running_mean", "running_var")   # BatchNormalization's inputs 1-4
# the exporter's flavour in this suite, whose declared deviations explain a difference
EXPORTERS = {"dynamo": "torch-onnx", "torchscript": "torch-onnx-torchscript"}
TRAINING_EXPORT = ("export the training graph with the TorchScript exporter: torch.onnx.export(model, (x,), path, "
                   "dynamo=False, training=torch.onnx.TrainingMode.TRAINING) after model.train(); it keeps "
                   "training_mode=1, though its running statistics are no graph outputs either")
TRACE_MOVES = ("the TorchScript exporter's training-mode export runs the module's forward once on the example (its "
               "trace): the running statistics moved by that call (num_batches_tracked 1) are what the file holds, and "
               "the module keeps them too; export a copy (copy.deepcopy(model)) to keep the original's")
INFERENCE_EXPORT = "export the inference graph after model.eval(): a graph's mode is fixed at export"


@dataclass
class GraphLayer(Layer):
    """A layer of the graph: its node, the exporter that made it, the module's mode at export where the
    exporter recorded it, and the rewrite that fused it into another node."""

    node: str = ""
    exporter: str | None = None
    exported_from: str | None = None
    fused: str | None = None
    producer: str | None = None


def exporter(model) -> str | None:
    """'dynamo' (node metadata pkg.torch.onnx.*), 'torchscript' (producer pytorch without it), or None."""
    if any(p.key.startswith("pkg.torch.onnx") for n in model.graph.node for p in n.metadata_props):
        return "dynamo"
    return "torchscript" if model.producer_name == "pytorch" else None


def load(path: str):
    """The ONNX model at ``path``; a missing or unreadable file is an AuditError."""
    if not Path(path).is_file():
        raise AuditError(f"--compare: no file {path}")
    import onnx
    try:
        return onnx.load(path)
    except Exception as err:   # a file that is no ONNX model: its parser's words
        raise AuditError(f"--compare: {path} is not an ONNX model ({type(err).__name__}: {err})") from err


def observe(path: str, batch, profile, flavour) -> Observed:
    """Run the graph at ``path`` on ``batch`` (a NumPy array or tensor) as the step and as the inference call."""
    import onnxruntime

    from layerconf.adapters.onnxruntime import OrtAdapter
    model = load(path)
    x = np.asarray(batch.detach().cpu().numpy() if hasattr(batch, "detach") else batch)
    constants = _constants(model)
    feeds, fed_modes = _feeds(model, x, constants, path)
    found = _found(model, constants)
    session = OrtAdapter(flavour, "cpu").session(_exposed(model, found))
    names = [o.name for o in session.get_outputs()]
    runs = {}
    for name, training in (("step", True), ("inference", False)):
        values = dict(zip(names, session.run(None, {**feeds, **{k: np.array(training) for k in fed_modes}})))
        runs[name] = values
    made = exporter(model)
    layers = [_layer(node, meta, constants, runs, profile, made, model, fed_modes) for node, meta in found]
    version = f"onnxruntime {onnxruntime.__version__}" + (f", exported by torch {model.producer_version} "
                                                          f"({made} exporter)" if made else "")
    return Observed(layers, version, KEPT, STEP, f"{x.shape} {feeds[next(iter(feeds))].dtype}")


def _constants(model) -> dict:
    from onnx import numpy_helper
    out = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            out[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return out


def _feeds(model, x: np.ndarray, constants: dict, path: str):
    """The batch fed to the graph's one data input (in its element type), and the training_mode inputs."""
    from onnx import helper
    modes = {n.input[2] for n in model.graph.node if n.op_type == "Dropout" and len(n.input) > 2 and n.input[2]}
    inputs = [i for i in model.graph.input if i.name not in constants]
    data = [i for i in inputs if i.name not in modes]
    if len(data) != 1:
        raise AuditError(f"--compare: {path} has {len(data)} data inputs ({', '.join(i.name for i in data)}); "
                         f"the audit feeds one, the batch")
    dtype = helper.tensor_dtype_to_np_dtype(data[0].type.tensor_type.elem_type)
    return {data[0].name: x.astype(dtype)}, [i.name for i in inputs if i.name in modes]


def _meta(node) -> dict:
    return {p.key: p.value for p in node.metadata_props}


def _found(model, constants) -> list:
    """(node, metadata) of every training-flag node, and of every node a BatchNorm was fused into."""
    out = []
    for node in model.graph.node:
        meta = _meta(node)
        if node.op_type in FAMILIES or meta.get("pkg.onnxscript.rewriter.rule_name", "").startswith("FuseBatchNorm"):
            out.append((node, meta))
    return out


def _exposed(model, found):
    """A copy of the model whose layers' inputs and outputs are graph outputs too."""
    import onnx
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    have = {o.name for o in copy.graph.output}
    for node, _ in found:
        for name in (node.input[0], node.output[0]):
            if name not in have:
                copy.graph.output.append(onnx.ValueInfoProto(name=name))
                have.add(name)
    return copy


def path_of(node, meta: dict) -> str:
    """The module path the exporter recorded for the node, else the node's name."""
    if "pkg.torch.onnx.name_scopes" in meta:
        scopes = ast.literal_eval(meta["pkg.torch.onnx.name_scopes"])[1:-1]
        return ".".join(scopes) or node.name
    if not node.name.startswith("/"):
        return node.name
    path = []   # TorchScript scopes repeat a parent's name in a child's: /layer2/layer2.0/downsample/downsample.0/Conv
    for part in node.name.strip("/").split("/")[:-1]:
        if path and part.startswith(path[-1] + "."):
            path[-1] = part
        else:
            path.append(part)
    return ".".join(path) or node.name


def _exported_from(meta: dict) -> str | None:
    """The module's mode at export, from the ATen operator the dynamo exporter translated."""
    op = ast.literal_eval(meta["pkg.torch.onnx.class_hierarchy"])[-1] if "pkg.torch.onnx.class_hierarchy" in meta else ""
    if "no_training" in op:
        return INFERENCE
    return TRAINING if "legit_functional" in op or "native_dropout" in op else None


def _attribute(node, name, default):
    from onnx import helper
    found = [helper.get_attribute_value(a) for a in node.attribute if a.name == name]
    return found[0] if found else default


def _mode(node, constants, fed_modes) -> str | None:
    """The node's mode fixed at export; None where it is fed per call."""
    if node.op_type == "BatchNormalization":
        return TRAINING if _attribute(node, "training_mode", 0) else INFERENCE
    if node.op_type == "Dropout":
        name = node.input[2] if len(node.input) > 2 else ""
        if name in fed_modes:
            return None
        return TRAINING if name and bool(np.asarray(constants.get(name, False))) else INFERENCE
    return INFERENCE   # a fused BatchNorm: a constant affine map


def _layer(node, meta, constants, runs, profile, made, model, fed_modes) -> GraphLayer:
    fused = meta.get("pkg.onnxscript.rewriter.rule_name") if node.op_type not in FAMILIES else None
    family, kind = FAMILIES.get(node.op_type, ("batchnorm", None))
    mode = _mode(node, constants, fed_modes)
    state = {}
    if node.op_type == "BatchNormalization":
        state = {k: np.asarray(constants[n], dtype=np.float64) for k, n in zip(STATE, node.input[1:5]) if n in constants}
    after = dict(state)
    outputs = {o.name for o in model.graph.output}
    for key, name in zip(("running_mean", "running_var"), node.output[1:3]):
        if name and name in outputs:
            after[key] = np.asarray(runs["step"][name], dtype=np.float64)
    calls = {}
    for name, values in runs.items():
        x, y = (None if fused else values.get(node.input[0])), values.get(node.output[0])
        flag = (name == "step") if mode is None else mode == TRAINING
        calls[name] = Call(flag, int(y.shape[0]) if y is not None and y.ndim else None, _dtype(y),
                           None if x is None else x.astype(np.float64), None if y is None else y.astype(np.float64),
                           state, after if name == "step" else state)

    def read(argument):
        if node.op_type == "BatchNormalization" and argument in ("momentum", "epsilon"):
            return float(_attribute(node, argument, {"momentum": 0.9, "epsilon": 1e-5}[argument]))
        if node.op_type == "Dropout" and argument == "ratio":
            name = node.input[1] if len(node.input) > 1 else ""
            return float(np.asarray(constants[name])) if name in constants else 0.5 if not name else neutral.MISSING
        return neutral.MISSING

    y = runs["step"].get(node.output[0])
    return GraphLayer(path_of(node, meta), f"onnx.{node.op_type}" + (f" ({fused})" if fused else ""), family, kind,
                      [] if fused else neutral.settings(profile, family, read),
                      LAYOUTS.get(y.ndim) if y is not None else None, _dtype(y), None, mode, False,
                      None if not state else any(not np.array_equal(state[k], after[k]) for k in after), calls,
                      node=node.name, exporter=made, exported_from=_exported_from(meta), fused=fused,
                      producer=model.producer_version or None)


def _dtype(y) -> str | None:
    return None if y is None else str(y.dtype)


def explain(kind: str, pass_name: str, a: Layer, b: Layer) -> list[dict]:
    """What this suite knows about a difference of B's layer: the declared deviation of its exporter that it is,
    and the export that removes it. ``kind``: mode, state (at the start) or statistics (after the step)."""
    if not isinstance(b, GraphLayer) or b.exporter not in EXPORTERS:
        return []
    a_mode, b_mode = a.measured[pass_name].mode, b.measured[pass_name].mode
    behaviour, fix = None, None
    if kind == "mode" and pass_name == "step" and a_mode == TRAINING and b_mode == INFERENCE and b.family == "batchnorm":
        if b.exported_from == TRAINING:
            behaviour, fix = "bn.train.output", TRAINING_EXPORT
        else:
            fix = "the module was in eval() at export, so its graph is an inference one: " + TRAINING_EXPORT
    elif kind == "mode" and pass_name == "inference" and b_mode == TRAINING:
        fix = INFERENCE_EXPORT
    elif kind == "state" and b.exporter == "torchscript" and b.left_in == TRAINING:
        fix = TRACE_MOVES
    elif kind == "statistics":
        behaviour = "bn.train.running_mean"
        if b.exporter == "dynamo" and b.exported_from == TRAINING:
            fix = TRAINING_EXPORT
    out = [_declared(b, behaviour)] if behaviour else []
    return [entry for entry in out if entry] + ([{"fix": fix}] if fix else [])


def _declared(b: GraphLayer, behaviour: str) -> dict | None:
    """The declaration of the exporter's flavour that covers ``behaviour`` for this layer, as a fix entry."""
    from layerconf import deviations
    flavour = EXPORTERS[b.exporter]
    params = {"dtype": b.dtype, "layout": b.layout}
    for d in deviations.declarations(flavour):
        if d.applies(flavour, behaviour, params, b.producer or "0"):
            return {"declared": d.name, "flavour": flavour, "reason": d.reason, "link": d.link}
    return None
