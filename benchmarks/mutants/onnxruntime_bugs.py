"""ONNX Runtime's kernels are C++: each mutant rewrites the model handed to ``onnxruntime.InferenceSession``, the
place where an exporter or converter bug reaches the runtime (an attribute with another framework's meaning, inputs
or outputs wired in the wrong order, an input or attribute dropped)."""
import onnx
from onnx import TensorProto, helper

from benchmarks.mutants.kit import hit, mutant

SESSION = "onnxruntime.InferenceSession.__init__"


def rewriting(op_type):
    """Decorator: a session's __init__ that first applies edit(graph, node) to each ``op_type`` node of model bytes
    (edit returns whether it changed the node)."""
    def init_with(edit):
        def init(original, self, model, *args, **kwargs):
            if isinstance(model, bytes):
                proto = onnx.load_from_string(model)
                if hit(any([edit(proto.graph, n) for n in list(proto.graph.node) if n.op_type == op_type])):
                    model = proto.SerializeToString()
            original(self, model, *args, **kwargs)
        return init
    return init_with


BN, DO = rewriting("BatchNormalization"), rewriting("Dropout")


def _attribute(node, name, default=None):
    found = [a for a in node.attribute if a.name == name]
    return helper.get_attribute_value(found[0]) if found else default


def _set_attribute(node, name, value):
    _drop_attribute(node, name)
    node.attribute.append(helper.make_attribute(name, value))
    return True


def _drop_attribute(node, name) -> bool:
    found = [a for a in node.attribute if a.name == name]
    for a in found:
        node.attribute.remove(a)
    return bool(found)


def _swap(fields, i, j):
    fields[i], fields[j] = fields[j], fields[i]
    return True


def _constant(graph, name, element_type, value):
    graph.node.insert(0, helper.make_node("Constant", [], [name], value=helper.make_tensor("t", element_type, [], [value])))


def _element_type(graph, name):
    return next(i.type.tensor_type.elem_type for i in graph.input if i.name == name)


mutant("bn_momentum_reversed", SESSION)(BN(lambda g, n: _set_attribute(n, "momentum", 1.0 - _attribute(n, "momentum", 0.9))))
mutant("bn_epsilon_dropped", SESSION)(BN(lambda g, n: _drop_attribute(n, "epsilon")))
mutant("bn_scale_bias_swapped", SESSION)(BN(lambda g, n: _swap(n.input, 1, 2)))
mutant("bn_mean_var_swapped", SESSION)(BN(lambda g, n: _swap(n.input, 3, 4)))
mutant("bn_running_outputs_swapped", SESSION)(BN(lambda g, n: len(n.output) == 3 and _swap(n.output, 1, 2)))
mutant("bn_spatial_dropped", SESSION)(BN(lambda g, n: _attribute(n, "spatial", 1) == 0 and _drop_attribute(n, "spatial")))


@mutant("bn_inference_in_training_mode", SESSION)
@BN
def _(graph, node):
    if _attribute(node, "training_mode", 0) == 1:
        return False
    node.output.extend(["unused_running_mean", "unused_running_var"])
    return _set_attribute(node, "training_mode", 1)


@mutant("do_ratio_dropped", SESSION)
@DO
def _(graph, node):
    node.input[1] = ""
    return True


@mutant("do_training_mode_dropped", SESSION)
@DO
def _(graph, node):
    del node.input[2:]
    return True


@mutant("do_training_mode_constant_true", SESSION)
@DO
def _(graph, node):
    _constant(graph, "always_training", TensorProto.BOOL, True)
    node.input[2] = "always_training"
    return True


@mutant("do_unscaled", SESSION)
@DO
def _(graph, node):
    scaled, mask = node.output[0], node.output[1]
    node.output[0] = "scaled_output"
    graph.node.extend([helper.make_node("Cast", [mask], ["mask_as_data"], to=_element_type(graph, node.input[0])),
                       helper.make_node("Mul", [node.input[0], "mask_as_data"], [scaled])])
    return True


mutant("do_seed_dropped", SESSION)(DO(lambda g, n: _drop_attribute(n, "seed")))


@mutant("do_mask_inverted", SESSION)
@DO
def _(graph, node):
    mask = node.output[1]
    node.output[1] = "keep_mask"
    graph.node.append(helper.make_node("Not", ["keep_mask"], [mask]))
    return True


@mutant("bn_legacy_training_outputs_dropped", SESSION)
@BN
def _(graph, node):
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


@mutant("do_absent_training_mode_true", SESSION)
@DO
def _(graph, node):
    if len(node.input) > 2 or _attribute(node, "ratio") is not None:
        return False
    _constant(graph, "exported_training", TensorProto.BOOL, True)
    node.input.extend([""] * (2 - len(node.input)) + ["exported_training"])
    return True


@mutant("do_absent_ratio_filled", SESSION)
@DO
def _(graph, node):
    if len(node.input) < 2 or node.input[1] != "":
        return False
    _constant(graph, "default_ratio", _element_type(graph, node.input[0]), 0.1)
    node.input[1] = "default_ratio"
    return True


@mutant("bn_activation_axes_reversed", SESSION)
@BN
def _(graph, node):
    if _attribute(node, "spatial", 1) != 0:
        return False
    ranks = {i.name: len(i.type.tensor_type.shape.dim) for i in graph.input}
    for k in range(1, 5):
        name = node.input[k]
        graph.node.insert(0, helper.make_node("Transpose", [name], [f"{name}_reversed"], perm=list(range(ranks[name]))[::-1]))
        node.input[k] = f"{name}_reversed"
    return True
