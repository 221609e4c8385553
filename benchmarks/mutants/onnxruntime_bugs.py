"""Semantic bugs injected into ONNX Runtime runs (see benchmarks/mutants/__init__.py for the machinery).

ORT's kernels are C++, so each mutant rewrites the model handed to ``onnxruntime.InferenceSession``: the
place where an exporter or converter bug reaches the runtime. Each is a realistic bug of that kind (an
attribute written with another framework's meaning, inputs or outputs wired in the wrong order, an
input or attribute dropped): the model still loads and runs, and is wrong in one behaviour.
"""
import functools

import onnx
import onnxruntime
from onnx import TensorProto, helper

from benchmarks.mutants import hit, mutant


def _rewrite(op_type, edit):
    """Before a session is created from model bytes, apply edit(graph, node) to each ``op_type`` node;
    edit returns whether it changed the node."""
    original = onnxruntime.InferenceSession.__init__

    @functools.wraps(original)
    def init(self, path_or_bytes, *args, **kwargs):
        if isinstance(path_or_bytes, bytes):
            model = onnx.load_from_string(path_or_bytes)
            if any([edit(model.graph, n) for n in list(model.graph.node) if n.op_type == op_type]):
                hit()
                path_or_bytes = model.SerializeToString()
        original(self, path_or_bytes, *args, **kwargs)

    onnxruntime.InferenceSession.__init__ = init


def _attribute(node, name, default=None):
    found = [a for a in node.attribute if a.name == name]
    return helper.get_attribute_value(found[0]) if found else default


def _set_attribute(node, name, value):
    _drop_attribute(node, name)
    node.attribute.append(helper.make_attribute(name, value))


def _drop_attribute(node, name) -> bool:
    found = [a for a in node.attribute if a.name == name]
    for a in found:
        node.attribute.remove(a)
    return bool(found)


def _swap(fields, i, j):
    fields[i], fields[j] = fields[j], fields[i]
    return True


# ---------------------------------------------------------------- BatchNormalization

@mutant("bn_momentum_reversed", "momentum written with PyTorch's meaning: 1 - momentum (an exporter that forgets to convert)")
def _():
    _rewrite("BatchNormalization", lambda g, n: _set_attribute(n, "momentum", 1.0 - _attribute(n, "momentum", 0.9)) or True)


@mutant("bn_epsilon_dropped", "epsilon attribute not written: the node uses the default 1e-5")
def _():
    _rewrite("BatchNormalization", lambda g, n: _drop_attribute(n, "epsilon"))


@mutant("bn_scale_bias_swapped", "scale and B wired to each other's input")
def _():
    _rewrite("BatchNormalization", lambda g, n: _swap(n.input, 1, 2))


@mutant("bn_mean_var_swapped", "input_mean and input_var wired to each other's input")
def _():
    _rewrite("BatchNormalization", lambda g, n: _swap(n.input, 3, 4))


@mutant("bn_running_outputs_swapped", "training outputs running_mean and running_var wired to each other")
def _():
    _rewrite("BatchNormalization", lambda g, n: len(n.output) == 3 and _swap(n.output, 1, 2))


@mutant("bn_inference_in_training_mode", "the inference model keeps training_mode=1: it normalises with the batch statistics")
def _():
    def edit(graph, node):
        if _attribute(node, "training_mode", 0) == 1:
            return False
        _set_attribute(node, "training_mode", 1)
        node.output.extend(["unused_running_mean", "unused_running_var"])
        return True
    _rewrite("BatchNormalization", edit)


# ---------------------------------------------------------------- Dropout

@mutant("do_ratio_dropped", "the ratio input is not wired: Dropout uses the default 0.5")
def _():
    def edit(graph, node):
        node.input[1] = ""
        return True
    _rewrite("Dropout", edit)


@mutant("do_training_mode_dropped", "the training_mode input is not wired: Dropout is always the identity")
def _():
    def edit(graph, node):
        del node.input[2:]
        return True
    _rewrite("Dropout", edit)


@mutant("do_training_mode_constant_true", "training_mode tied to a constant true: Dropout also drops in inference")
def _():
    def edit(graph, node):
        graph.node.insert(0, helper.make_node("Constant", [], ["always_training"],
                                              value=helper.make_tensor("t", TensorProto.BOOL, [], [True])))
        node.input[2] = "always_training"
        return True
    _rewrite("Dropout", edit)


@mutant("do_unscaled", "the output is data * mask, without the 1 / (1 - ratio) scale (a hand-written dropout)")
def _():
    def edit(graph, node):
        element_type = next(i.type.tensor_type.elem_type for i in graph.input if i.name == node.input[0])
        scaled, mask = node.output[0], node.output[1]
        node.output[0] = "scaled_output"
        graph.node.extend([helper.make_node("Cast", [mask], ["mask_as_data"], to=element_type),
                           helper.make_node("Mul", [node.input[0], "mask_as_data"], [scaled])])
        return True
    _rewrite("Dropout", edit)


@mutant("do_seed_dropped", "the seed attribute is not written: seeded layers draw unrelated masks")
def _():
    _rewrite("Dropout", lambda g, n: _drop_attribute(n, "seed"))


@mutant("do_mask_inverted", "the mask output marks the dropped elements (the drop-mask convention)")
def _():
    def edit(graph, node):
        mask = node.output[1]
        node.output[1] = "keep_mask"
        graph.node.append(helper.make_node("Not", ["keep_mask"], [mask]))
        return True
    _rewrite("Dropout", edit)


# ---------------------------------------------------------------- operator versions and graph forms

@mutant("bn_legacy_training_outputs_dropped", "a BatchNormalization before opset 14 loses its optional outputs (an exporter "
         "that drops those it does "
         "not use): ORT then normalises with input_mean and input_var")
def _():
    def edit(graph, node):
        if _attribute(node, "training_mode") is not None or len(node.output) < 5:
            return False
        dropped = set(node.output[1:])
        del node.output[1:]
        for output in [o for o in graph.output if o.name in dropped]:
            graph.output.remove(output)
        for consumer in [n for n in graph.node if set(n.input) & dropped]:
            graph.node.remove(consumer)
        for output in [o for o in graph.output if not any(o.name in n.output for n in graph.node)]:
            graph.output.remove(output)
        return True
    _rewrite("BatchNormalization", edit)


@mutant("do_absent_training_mode_true", "a Dropout (opset 12 on) without a training_mode input gets one "
         "tied to true (a converter exporting its "
         "training graph)")
def _():
    def edit(graph, node):
        if len(node.input) > 2 or _attribute(node, "ratio") is not None:
            return False
        graph.node.insert(0, helper.make_node("Constant", [], ["exported_training"],
                                              value=helper.make_tensor("t", TensorProto.BOOL, [], [True])))
        node.input.extend([""] * (2 - len(node.input)) + ["exported_training"])
        return True
    _rewrite("Dropout", edit)


@mutant("do_absent_ratio_filled", "an absent ratio input is filled with 0.1 (a converter writing its own framework's default instead of "
         "the spec's 0.5)")
def _():
    def edit(graph, node):
        if len(node.input) < 2 or node.input[1] != "":
            return False
        element_type = next(i.type.tensor_type.elem_type for i in graph.input if i.name == node.input[0])
        graph.node.insert(0, helper.make_node("Constant", [], ["default_ratio"],
                                              value=helper.make_tensor("r", element_type, [], [0.1])))
        node.input[1] = "default_ratio"
        return True
    _rewrite("Dropout", edit)


@mutant("bn_spatial_dropped", "the spatial attribute is not written (an exporter whose framework only knows per-channel batch norm): "
         "a per-activation node becomes a per-channel one")
def _():
    _rewrite("BatchNormalization", lambda g, n: _attribute(n, "spatial", 1) == 0 and _drop_attribute(n, "spatial"))


@mutant("bn_activation_axes_reversed", "per-activation scale, B, mean and var of a spatial=0 node read with their axes "
         "reversed, (C, H, W) as (W, H, C) (a converter mixing row- and column-major layouts)")
def _():
    def edit(graph, node):
        if _attribute(node, "spatial", 1) != 0:
            return False
        ranks = {i.name: len(i.type.tensor_type.shape.dim) for i in graph.input}
        for k in range(1, 5):
            name, rank = node.input[k], ranks[node.input[k]]
            graph.node.insert(0, helper.make_node("Transpose", [name], [f"{name}_reversed"], perm=list(range(rank))[::-1]))
            node.input[k] = f"{name}_reversed"
        return True
    _rewrite("BatchNormalization", edit)
