"""layerconf.report: matrix cells, observed conventions, porting statements, plots, Markdown and HTML."""
import inspect
import re

import pytest

from layerconf import observed, report, results, specs
from layerconf.report import conformance_matrix, conventions, porting
from tests.self.documents import LINK, document, record


def test_matrix_cells_count_outcomes_and_carry_the_worst_error_and_links():
    r = report.build([document()])
    assert [c.label for c in r.columns] == ["torch", "keras-jax"]
    rows = {row.behaviour: row for row in r.rows}
    torch_output, keras_output = rows["bn.train.output"].cells
    assert torch_output.text() == "pass 1, 1 n/a"
    assert keras_output.status == "failed"
    assert keras_output.text() == "fail 1/2, 1 n/a, worst error 0.002 (4.5x tol, y)"
    deviation, missing = rows["bn.error.momentum"].cells
    assert (deviation.status, deviation.links, missing.status) == ("deviation", [LINK], "missing")
    assert list(r.layers) == ["BatchNorm", "Dropout"]   # grouped by layer, then by family
    assert list(r.layers["BatchNorm"])[0] == "batchnorm.training"
    assert [label for label, rec in r.failures] == ["keras-jax"]


def test_conventions_are_measured_from_the_records():
    conv = report.build([document()]).conventions
    torch, keras = conv["torch"], conv["keras-jax"]
    assert (torch["momentum"].value, keras["momentum"].value) == ("batch", "old")
    assert torch["momentum"].text.startswith("momentum weights the batch: new = (1 - momentum) old + momentum batch")
    assert (torch["default_momentum"].value, keras["default_momentum"].value) == (("momentum", 0.1), ("momentum", 0.99))
    assert (torch["default_eps"].value, keras["default_eps"].value) == (("eps", 1e-5), ("epsilon", 1e-3))
    assert (torch["running_var"].value, keras["running_var"].value) == ("unbiased", "biased")
    assert "measured factor 1.5 at n = 3" in torch["running_var"].text
    assert torch["frozen"].value == (True, "batch statistics") and keras["frozen"].value == (False, "running statistics")
    assert torch["batch_dependence"].value is False and torch["dropout_scaling"].value == ("inverted", None)
    assert torch["initial_state"].text == "not measured"   # no record observed it


def test_porting_states_the_translation_and_what_no_setting_removes():
    (pair,) = report.build([document()]).pairs
    assert (pair.a, pair.b) == ("torch", "keras-jax")
    assert pair.settings[0] == ("torch momentum=0.1, eps=1e-05 (its defaults) is keras-jax momentum=0.9, epsilon=1e-05; "
                                "keras-jax's defaults (momentum=0.99, epsilon=0.001) differ: set them explicitly")
    assert "call torch's frozen part in inference mode" in pair.settings[1]
    assert pair.remaining[0].startswith("running variance: torch adds var_B n/(n-1), keras-jax adds var_B")
    assert "measured update ratio x1.5 at n = 3" in pair.remaining[0]
    assert any(s.startswith("training batch of one: torch raises an error; keras-jax returns beta") for s in pair.remaining)


def test_html_is_self_contained_with_every_plot(tmp_path):
    paths = report.write(tmp_path, [document()])
    page = paths["html"].read_text()
    assert page.count("<svg") == 3 and "plots/" not in page
    assert not re.search(r"""(src|href)=["'](?!https://github|#|data:)""", page)   # nothing fetched
    assert "fail 1/2, 1 n/a, worst error 0.002" in page and f'href="{LINK}"' in page
    markdown = paths["markdown"].read_text()
    assert "| `bn.train.output` | ✅ pass 1, 1 n/a | ❌ fail 1/2, 1 n/a, worst error 0.002 (4.5x tol, y) |" in markdown
    for name in ("heat_map", "running_statistics", "drop_fractions"):
        assert f"(plots/{name}.svg)" in markdown and (tmp_path / "plots" / f"{name}.svg").read_text().startswith("<svg")


def test_a_flavour_that_crashed_has_a_column_and_its_output(tmp_path):
    crashed = {"status": "crashed", "exit_code": -11, "duration_s": 3.0, "command": ["python"], "environment": {},
               "output_tail": "collected 12 items\nFatal Python error: Segmentation fault"}
    doc = results.merge([document()], {"torch": {**crashed, "status": "completed", "exit_code": 0},
                                       "keras-torch": crashed})
    r = report.build([doc])
    assert [c.label for c in r.columns] == ["torch", "keras-jax", "keras-torch"]
    paths = report.write(tmp_path, [doc])
    markdown, page = paths["markdown"].read_text(), paths["html"].read_text()
    assert "| keras-torch | - | ? | CRASHED (exit -11) | 0 | 0 | 0 | 0 | 0 |" in markdown
    assert "### keras-torch: CRASHED (exit -11)" in markdown and "Segmentation fault" in markdown
    assert "Segmentation fault" in page


def test_two_versions_of_a_flavour_get_one_column_each():
    old = document()
    new = results.merge([document()])
    for r in new["records"]:
        if r["framework"] == "torch":
            r["version"] = "2.10.0"
    new["metadata"]["frameworks"]["torch"]["version"] = "2.10.0"
    labels = [c.label for c in report.build([old, new]).columns]
    assert labels == ["torch 2.9.1+cpu", "keras-jax 3.11.0 #1", "torch 2.10.0", "keras-jax 3.11.0 #2"]


def test_conventions_leave_out_checks_that_did_not_apply_and_tolerate_float32_defaults():
    doc = document()
    doc["records"].append(record("torch", "do.eval.identity", "dropout.inference", {"dtype": "bfloat16"},
                                 outcome="not_applicable", message="no bfloat16"))
    doc["records"].append(record("torch", "do.eval.identity", "dropout.inference", {"dtype": "float32"}))
    for r in doc["records"]:
        if r["behaviour"] == "bn.defaults.decay" and r["framework"] == "keras-jax":
            r["observed"]["default_decay"] = 0.8999999761581421            # 0.9 held in float32
        if r["behaviour"] == "bn.defaults.eps" and r["framework"] == "keras-jax":
            r["observed"]["default_eps"] = 1.0000000000000521e-05
    r = report.build([doc])
    assert r.conventions["torch"]["dropout_scaling"].value == ("inverted", True)
    assert r.pairs[0].settings[0] == "torch momentum=0.1, eps=1e-05 (its defaults) is keras-jax momentum=0.9, epsilon=1e-05"


def _with_compiled_torch(doc: dict) -> dict:
    """``doc`` plus a torch-compile column (torch-compile's manifest: path_of torch) copied from torch's records,
    with one check failing and one passing closer to its tolerance."""
    compiled = [dict(r, framework="torch-compile") for r in doc["records"] if r["framework"] == "torch"]
    for r in compiled:
        if r["check"] == "bn.train.output[layout=NC]":
            r.update(margin=0.5, worst_error=5e-6)
        if r["check"] == "bn.error.momentum[layout=NC]":
            r.update(outcome="error", deviation=None, message="UserError: data-dependent expression")
    for r in doc["records"]:
        if r["framework"] == "torch" and r["check"] == "bn.train.output[layout=NC]":
            r.update(margin=0.1, worst_error=1e-6)
    doc["records"] += compiled
    doc["metadata"]["frameworks"]["torch-compile"] = doc["metadata"]["frameworks"]["torch"]
    return results.validate(doc)


def test_paths_view_compares_each_path_with_its_eager_flavour_check_by_check():
    r = report.build([_with_compiled_torch(document())])
    (view,) = r.paths
    assert (view.path, view.eager, view.versions, view.compared) == ("torch-compile", "torch", "2.9.1+cpu", 13)
    (difference,) = view.differences
    assert difference.check == "bn.error.momentum[layout=NC]"
    assert (difference.eager, difference.path) == ("deviation (torch#0)", "error")
    increase = view.largest_margin_increase
    assert (increase.check, increase.eager, increase.path) == ("bn.train.output[layout=NC]", "margin 0.1", "margin 0.5")
    pair = next(p for p in r.pairs if {p.a, p.b} == {"torch", "torch-compile"})
    assert pair.remaining == ["bn.error.momentum[layout=NC]: torch deviation (torch#0); torch-compile error"]
    text = report.markdown(r)
    assert "### torch-compile against torch (2.9.1+cpu)" in text
    assert "13 checks on both; 1 with another outcome or deviation." in text
    assert 'id="paths"' in report.html(r)


def test_an_eager_flavour_or_a_path_without_its_eager_column_has_no_view():
    assert report.build([document()]).paths == []
    only_path = _with_compiled_torch(document())
    only_path["records"] = [r for r in only_path["records"] if r["framework"] != "torch"]
    assert report.build([only_path]).paths == []


def test_a_layer_beyond_batchnorm_and_dropout_follows_them_under_its_own_heading():
    doc = document()
    doc["records"].insert(0, record("torch", "rrelu.eval.slope", "rrelu.inference", {"dtype": "float32"}))
    doc["records"].append(record("torch", "mystery.check", "mystery.family", {}))   # a family the catalogue lacks
    r = report.build([doc])
    assert list(r.layers) == ["BatchNorm", "Dropout", "RReLU", "mystery"]
    assert "### RReLU\n\n#### rrelu.inference" in report.markdown(r)


def test_every_layer_of_the_catalogue_has_a_heading_and_every_heading_a_layer():
    assert {conformance_matrix.layer(b.family) for b in specs.behaviours().values()} == set(specs.layers())


def test_the_conventions_table_names_functions_that_exist_and_declared_observed_keys():
    keys = [entry["key"] for entry in conventions.TABLE]
    assert len(keys) == len(set(keys)) and list(report.build([document()]).titles) == keys
    for entry in conventions.TABLE:
        assert inspect.isfunction(getattr(conventions, entry["measure"]))
        if "observed" in entry:
            observed.require(entry["observed"])
        for kind in ("setting", "remaining"):
            if kind in entry.get("porting", {}):
                assert inspect.isfunction(getattr(porting, entry["porting"][kind]))


@pytest.mark.parametrize("entry", [{"key": "x", "title": "x y", "measure": "worded"},
                                   {"key": "x", "title": "x y", "measure": "frozen", "observed": "o", "words": {}},
                                   {"key": "x", "title": "x y", "measure": "frozen", "porting": {"remaining": "a", "differs": "b"}}])
def test_a_table_entry_that_cannot_be_read_one_way_is_refused(tmp_path, entry):
    (tmp_path / "t.yaml").write_text(f"- {entry}")
    with pytest.raises(specs.SpecError, match="t.yaml: 0"):
        specs.load_yaml(tmp_path / "t.yaml", "conventions")


def test_a_worded_convention_says_its_value_and_porting_lines_follow_the_table():
    doc = document()
    for fw, call, crop in (("torch", "training", "identity"), ("keras-jax", "inference", "unforeseen")):
        doc["records"] += [record(fw, "aug.call", "augmentation.training_flag", {}, observed={"augmentation_direct_call": call}),
                           record(fw, "aug.crop", "augmentation.inference", {}, observed={"augmentation_crop_inference": crop})]
    r = report.build([doc])
    assert r.conventions["torch"]["augmentation_direct_call"].text == "augments (call's default is training=True)"
    assert r.conventions["keras-jax"]["augmentation_crop_inference"].text == "unforeseen"   # no words for it: the value
    augmentation = [line.split(":")[0] for line in r.pairs[0].remaining if "Random" in line or "augmentation" in line]
    assert augmentation == ["augmentation layer called without the training flag", "RandomCrop in inference"]
