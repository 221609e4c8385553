"""layerconf.specs and layerconf.applicability: the catalogue, profiles, deviations, check ids."""
from pathlib import Path

import pytest
import yaml

from layerconf import specs
from layerconf.applicability import not_applicable
from layerconf.reference.dtypes import NUMPY
from layerconf.reference.layout import LAYOUTS

SPECS = specs.DIRECTORY
PROFILES = specs.flavour_names()


all_check_ids = specs.catalogue_check_ids


def test_catalogue_loads_with_unique_ids():
    catalogue = specs.behaviours()
    ids = [e["id"] for path in (SPECS / "behaviours").glob("*.yaml") for e in yaml.safe_load(path.read_text())]
    assert len(ids) == len(set(ids)) == len(catalogue) > 20
    assert {"bn", "do"} <= {i.split(".")[0] for i in ids}
    assert len(set(all_check_ids())) == len(all_check_ids())  # no two cases share a check id


@pytest.mark.parametrize("bid", sorted(specs.behaviours()))
def test_every_grid_expands_to_known_values(bid):
    b = specs.behaviours()[bid]
    cases = b.cases()
    expected = 1
    for values in b.grid.values():
        expected *= len(values)
    assert len(cases) == expected >= 1
    assert all(list(c) == list(b.grid) for c in cases)
    for c in cases:
        assert c.get("layout", "NC") in LAYOUTS
        assert c.get("dtype", "float64") in NUMPY
        for word in ("decay", "eps", "rate"):  # a YAML '1e-5' would load as a string
            assert word not in c or isinstance(c[word], (int, float)), (word, c[word])


def test_tolerances_cover_every_dtype():
    assert set(specs.tolerances()) == set(NUMPY)


@pytest.mark.parametrize("name", PROFILES)
def test_profiles_validate_and_every_case_is_decidable(name):
    profile = specs.profile(name)
    assert profile.name == name and "manifest" not in profile.data
    for b in specs.behaviours().values():
        for c in b.cases():
            reason = not_applicable(b, c, profile)
            assert reason is None or isinstance(reason, str) and reason


def test_paddle_native_spelling():
    paddle = specs.profile("paddle")
    assert paddle.native("batchnorm", decay=0.9, eps=1e-3, affine=False) == {
        "momentum": 0.9, "epsilon": 1e-3, "weight_attr": False, "bias_attr": False}
    # scaling's values respell the neutral word; noise_shape becomes the axes the mask is drawn along
    assert paddle.native("dropout", rate=0.5, scaling="inference") == {"p": 0.5, "mode": "downscale_in_infer"}
    assert paddle.native("dropout", scaling="train") == {"mode": "upscale_in_train"}
    assert paddle.native("dropout", noise_shape=(16, 1, 12)) == {"axis": [0, 2]}


def test_torch_native_spelling():
    torch = specs.profile("torch")
    assert torch.native("batchnorm", decay=0.7)["momentum"] == pytest.approx(0.3)
    assert torch.native("batchnorm", decay=0.9, eps=1e-3) == pytest.approx({"momentum": 0.1, "eps": 1e-3})
    assert torch.native("batchnorm", decay=None) == {"momentum": None}   # cumulative average
    assert torch.native("dropout", rate=0.25) == {"p": 0.25}
    with pytest.raises(specs.SpecError, match=r"torch\.yaml: batchnorm/arguments: no argument for 'rate'"):
        torch.native("batchnorm", rate=0.5)
    assert torch.get("batchnorm.defaults.eps") == 1e-5 and torch.has("batchnorm.cumulative_average")
    assert not torch.has("dropout.variants.gaussian") and torch.get("no.such.path", 3) == 3


def test_layer_class_is_the_class_the_profile_names():
    """Profile.layer_class: a section's class, its classes/variants entry for the kind, its layouts entry."""
    torch, keras = specs.profile("torch"), specs.profile("keras-tensorflow")
    assert torch.layer_class("stochastic_depth") == "torchvision.ops.StochasticDepth"
    assert torch.layer_class("batchnorm", layout="NCHW") == "BatchNorm2d"
    assert torch.layer_class("dropout", "element", "NCHW") == "Dropout"
    assert torch.layer_class("dropout", "channel", "NCDHW") == "Dropout3d"
    assert torch.layer_class("recurrent", "gru") == "GRU"
    assert torch.layer_class("batchnorm_variants", "sync", "NCHW") == "SyncBatchNorm"
    assert torch.layer_class("batchnorm_variants", "lazy", "NCL") == "LazyBatchNorm1d"
    assert keras.layer_class("augmentation", "flip") == "RandomFlip"
    assert torch.layer_class("augmentation", "flip") is None and torch.layer_class("dropout", "channel", "NC") is None


def _profile_copy(tmp_path, edit=None, text=None):
    data = yaml.safe_load((SPECS / "flavours" / "torch.yaml").read_text())
    if edit:
        edit(data)
    (tmp_path / "torch.yaml").write_text(text if text is not None else yaml.safe_dump(data))
    return tmp_path


@pytest.mark.parametrize("edit, field, words", [
    (lambda d: d["batchnorm"]["defaults"].pop("eps"), "batchnorm/defaults", "'eps' is a required property"),
    (lambda d: d["batchnorm"].update(running_var_correction="sometimes"), "batchnorm/running_var_correction", "sometimes"),
    (lambda d: d.update(dtypes=["float8"]), "dtypes/0", "float8"),
    (lambda d: d["dropout"]["arguments"]["rate"].update(map="reciprocal"), "dropout/arguments/rate", ""),
    (lambda d: d.update(colour="blue"), "(top level)", "colour"),
])
def test_profile_schema_violation_names_file_and_field(tmp_path, edit, field, words):
    directory = _profile_copy(tmp_path, edit)
    with pytest.raises(specs.SpecError) as err:
        specs.profile("torch", directory)
    assert f"{directory / 'torch.yaml'}: {field}" in str(err.value) and words in str(err.value)


def test_broken_yaml_and_unknown_flavours(tmp_path):
    (tmp_path / "a").mkdir()
    directory = _profile_copy(tmp_path / "a", text="dtypes: [float32\n")
    with pytest.raises(specs.SpecError, match=r"a/torch\.yaml: cannot read"):
        specs.profile("torch", directory)
    with pytest.raises(specs.SpecError, match=r"no flavour 'mxnet'; flavours: \['torch'\]"):
        specs.profile("mxnet", directory)


def test_catalogue_errors_name_file_and_field(tmp_path):
    entries = yaml.safe_load((SPECS / "behaviours" / "batchnorm.yaml").read_text())
    path = tmp_path / "batchnorm.yaml"
    path.write_text(yaml.safe_dump(entries))
    (tmp_path / "extra.yaml").write_text(yaml.safe_dump([entries[0]]))
    with pytest.raises(specs.SpecError, match=rf"{tmp_path / 'extra.yaml'}: 0/id: duplicate behaviour id 'bn.train.output'"):
        specs.behaviours(tmp_path)
    (tmp_path / "extra.yaml").unlink()
    broken = [dict(entries[0], grid={"layout": ["NC"], "colour": ["red"]})]
    broken[0].pop("layouts_from")
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(specs.SpecError) as err:
        specs.behaviours(tmp_path)
    assert f"{path}: 0/grid: 'colour'" in str(err.value) and f"{path}: 0: 'layouts_from'" in str(err.value)


def test_check_id_format():
    assert specs.check_id("bn.train.running_var", {"decay": 0.7, "layout": "NCHW", "dtype": "float32"}) \
        == "bn.train.running_var[decay=0.7,layout=NCHW,dtype=float32]"
    assert specs.check_id("do.rate.zero", {}) == "do.rate.zero"
    assert "bn.train.small_variance[eps=1e-05,layout=NCHW,dtype=float64]" in all_check_ids()


def _profile(**data):
    return specs.Profile("toy", {"dtypes": ["float32"], **data}, Path("toy.yaml"))


def test_not_applicable_reasons():
    bn = specs.Behaviour("bn.x", "batchnorm.x", "a sentence here", "y", {}, ("batchnorm.cumulative_average",),
                         "batchnorm.layouts")
    profile = _profile(batchnorm={"layouts": {"NCHW": "BatchNorm2d"}})
    assert not_applicable(bn, {}, profile) == "toy profile has no batchnorm.cumulative_average"
    profile.data["batchnorm"]["cumulative_average"] = {}
    assert not_applicable(bn, {"layout": "NCHW", "dtype": "float32"}, profile) is None
    assert not_applicable(bn, {"dtype": "bfloat16"}, profile) == "dtype bfloat16 not in the profile's dtypes ['float32']"
    assert not_applicable(bn, {"layout": "NHWC"}, profile) == "layout NHWC not in batchnorm.layouts of the profile"
    torch = specs.profile("torch")
    nhwc = specs.behaviours()["bn.train.output"]
    assert "NHWC" in not_applicable(nhwc, {"layout": "NHWC", "dtype": "float32"}, torch)
    assert "gaussian" in not_applicable(specs.behaviours()["do.gaussian.variance"], {"rate": 0.1}, torch)


def test_layout_free_behaviour_is_checked_in_the_first_layout_offered():
    bn = specs.Behaviour("bn.x", "batchnorm.x", "a sentence here", "y", {"layout": ["NCHW", "NHWC"]}, (),
                         "batchnorm.layouts", layout_free=True)
    both, last = (_profile(batchnorm={"layouts": dict.fromkeys(ls, "BN")}) for ls in (["NCHW", "NHWC"], ["NHWC"]))
    assert not_applicable(bn, {"layout": "NCHW"}, both) is None
    assert not_applicable(bn, {"layout": "NHWC"}, both) == "bn.x does not depend on the layout: toy checks it in NCHW"
    assert not_applicable(bn, {"layout": "NHWC"}, last) is None
    assert "layout NCHW not in batchnorm.layouts" in not_applicable(bn, {"layout": "NCHW"}, last)


def test_an_opset_the_runtime_lacks_is_not_applicable_with_its_reason():
    trip = specs.behaviours()["bn.opset.round_trip"]
    case = {"opset": 6, "parameters": "inputs", "layout": "NCHW", "dtype": "float32"}
    assert not_applicable(trip, case, specs.profile("onnxruntime")) == (
        "opset 6 not in batchnorm.opsets of the profile: ONNX Runtime's CPU provider registers BatchNormalization "
        "kernels from opset 7 (NOT_IMPLEMENTED for opset 6)")
    assert not_applicable(trip, case, specs.profile("onnx-reference")) is None    # BatchNormalization_6 claims it
    assert "no batchnorm.arguments.opset" in not_applicable(trip, {**case, "opset": 15}, specs.profile("torch"))
    mask, newest = specs.behaviours()["do.outputs.mask"], {"opset": 22, "outputs": "graph"}
    ort = specs.profile("onnxruntime")
    assert not_applicable(mask, newest, ort) is None and not_applicable(mask, newest, ort, "1.32.0") is None
    assert not_applicable(mask, newest, ort, "1.17.3").startswith("opset 22 not in dropout.opsets of the profile for version 1.17.3: ")


def test_profile_extends_another(tmp_path):
    directory = _profile_copy(tmp_path)
    (directory / "child.yaml").write_text("extends: torch\nbatchnorm: {defaults: {eps: 0.001}}\n")
    child = specs.profile("child", directory)
    assert child.get("batchnorm.defaults") == {"decay": 0.9, "eps": 0.001}
    assert child.get("batchnorm.layouts") == specs.profile("torch").get("batchnorm.layouts")
    (directory / "path.yaml").write_text("extends: torch\ndropout: {seeding: null}\n"
                                         "not_expressible: {dropout.seeding: no generator to seed}\n")
    assert not specs.profile("path", directory).has("dropout.seeding")   # null removes what it extends
    (directory / "a.yaml").write_text("extends: b\n")
    (directory / "b.yaml").write_text("extends: a\n")
    with pytest.raises(specs.SpecError, match=r"b\.yaml: extends: cycle b -> a -> b"):
        specs.profile("b", directory)


def test_not_expressible_reasons_reach_the_skip_message():
    bn = specs.Behaviour("bn.x", "batchnorm.x", "a sentence here", "y", {}, ("batchnorm.gradients",), "batchnorm.layouts")
    profile = _profile(batchnorm={"layouts": {"NCHW": "BN"}}, not_expressible={
        "batchnorm.gradients": "no autograd", "batchnorm.layouts.NHWC": "channels first only",
        "dtypes.float16": "no half kernel", "bn.y": "no initial state"})
    assert not_applicable(bn, {}, profile) == "toy profile has no batchnorm.gradients: no autograd"
    profile.data["batchnorm"]["gradients"] = "autograd"
    assert not_applicable(bn, {"layout": "NHWC"}, profile) == "layout NHWC not in batchnorm.layouts of the profile: channels first only"
    assert not_applicable(bn, {"dtype": "float16"}, profile).endswith("['float32']: no half kernel")
    named = specs.Behaviour("bn.y", "batchnorm.x", "a sentence here", "y", {})
    assert not_applicable(named, {}, profile) == "toy cannot express bn.y: no initial state"
    onnx = specs.profile("onnxruntime")
    assert "no trainable parameters" in not_applicable(specs.behaviours()["bn.grad.train"], {"layout": "NC", "dtype": "float32"}, onnx)


def test_a_layer_may_narrow_the_dtypes():
    bn = specs.Behaviour("bn.x", "batchnorm.x", "a sentence here", "y", {})
    do = specs.Behaviour("do.x", "dropout.x", "a sentence here", "y", {})
    profile = _profile(batchnorm={"dtypes": ["float64"]}, not_expressible={"batchnorm.dtypes.float32": "no float kernel"})
    assert not_applicable(bn, {"dtype": "float32"}, profile) == \
        "dtype float32 not in the profile's batchnorm.dtypes ['float64']: no float kernel"
    assert not_applicable(do, {"dtype": "float32"}, profile) is None   # dropout keeps the profile's dtypes
    paddle = specs.profile("paddle")
    assert "batch_norm kernel" in not_applicable(specs.behaviours()["bn.train.output"], {"layout": "NC", "dtype": "float16"}, paddle)
    assert not_applicable(specs.behaviours()["do.eval.identity"], {"rate": 0.5, "dtype": "float16"}, paddle) is None


def test_not_expressible_must_not_name_a_listed_layer_dtype(tmp_path):
    directory = _profile_copy(tmp_path, lambda d: d.update(batchnorm={**d["batchnorm"], "dtypes": ["float64"]},
                                                           not_expressible={"batchnorm.dtypes.float64": "but it is there"}))
    with pytest.raises(specs.SpecError, match=r"not_expressible/batchnorm\.dtypes\.float64: the profile has"):
        specs.profile("torch", directory)


@pytest.mark.parametrize("key", ["batchnorm.defaults", "dtypes.float32"])
def test_not_expressible_must_name_an_absent_field(tmp_path, key):
    directory = _profile_copy(tmp_path, lambda d: d.update(not_expressible={key: "but it is there"}))
    with pytest.raises(specs.SpecError, match=rf"torch\.yaml: not_expressible/{key}: the profile has {key}"):
        specs.profile("torch", directory)
