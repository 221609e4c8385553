"""layerconf.report.digest: each finding once (a declaration, a failure signature), the scorecard, the HTML filter,
and a report that renders to the same bytes twice."""
import copy
import re

import pytest

from layerconf import report, results
from layerconf.report import digest
from tests.self.documents import LINK, document, record, with_outcome

ISSUE = "https://github.com/pytorch/pytorch/issues/12345"


def _declared(doc: dict, flavour: str) -> dict:
    return next(r for r in doc["records"] if r["framework"] == flavour and r["outcome"] == "deviation")


def test_the_digest_holds_each_declaration_and_failure_signature_once():
    d = report.build([document()]).digest
    (failure,), (declared,) = d.failures, d.declared
    assert (failure.kind, failure.behaviours, failure.name, failure.shown_by) == ("failure", ["bn.train.output"], "failed",
                                                                                  "keras-jax 3.11.0")
    assert failure.size == "worst error 0.002 (4.5x tol)" and failure.summary == "bn.train.output[layout=NCHW] on keras-jax"
    assert (declared.name, declared.behaviours, declared.size, declared.link) == (
        "specs/deviations/torch.yaml, entry 0", ["bn.error.momentum"], "no_error", LINK)
    assert declared.upstream is None and d.reported == 0   # a link to source is no upstream report


def test_one_declaration_over_flavours_and_versions_is_one_finding_naming_each():
    old = document()
    compiled = copy.deepcopy(_declared(old, "torch"))
    old["records"].append(dict(compiled, framework="torch-compile"))
    old["metadata"]["frameworks"]["torch-compile"] = old["metadata"]["frameworks"]["torch"]
    new = with_outcome(results.validate(old), "bn.train.output[layout=NC]", "torch", "passed", version="2.10.0")
    (declared,) = report.build([old, new]).digest.declared
    assert declared.shown_by == "torch 2.9.1+cpu/2.10.0, torch-compile 2.9.1+cpu"
    assert len(declared.records) == 4 and [i for i, _ in declared.columns] == [0, 2, 3, 5]


def test_failures_group_by_behaviour_and_kind_worst_outcome_first():
    doc = document()
    value = {"kind": "value", "quantity": "y", "detail": "y: worst error 0.3"}
    doc["records"] += [
        record("torch", "bn.eval.output", "batchnorm.inference", {"layout": "NC"}, outcome="failed", failures=[value],
               worst_error=0.3, margin=30.0, quantity="y"),
        record("torch", "bn.eval.output", "batchnorm.inference", {"layout": "NCHW"}, outcome="failed", failures=[value],
               worst_error=0.1, margin=10.0, quantity="y"),
        record("torch", "bn.eval.output", "batchnorm.inference", {"layout": "NCL"}, outcome="error",
               failures=[{"kind": "error", "quantity": "call", "detail": "RuntimeError: boom", "error_type": "RuntimeError"}])]
    failures = report.build([results.validate(doc)]).digest.failures
    assert [(f.behaviours[0], f.name, len(f.records)) for f in failures] == [
        ("bn.eval.output", "error RuntimeError", 1), ("bn.eval.output", "value", 2), ("bn.train.output", "failed", 1)]
    assert failures[0].size == "error RuntimeError" and failures[1].size == "worst error 0.3 (30x tol)"
    assert failures[1].summary == "y: worst error 0.3"


@pytest.mark.parametrize("link, reason, flavours, expected", [
    (ISSUE, "r", ["torch"], "pytorch/pytorch#12345"),
    ("https://github.com/pytorch/pytorch/pull/166756", "r", ["torch-compile"], "pytorch/pytorch#166756"),
    ("https://github.com/microsoft/onnxruntime/issues/29790#issuecomment-1", "r", ["torch-onnx"], "microsoft/onnxruntime#29790"),
    (ISSUE, "The output is wrong. No upstream report found (pytorch#1 is another bug).", ["torch"], None),
    (LINK, "r", ["torch"], None),                                                    # source, not a report
    ("https://github.com/keras-team/keras/issues/1", "r", ["torch"], None),          # not the framework's repository
    ("https://github.com/someone/theirs/issues/7", "r", ["not-a-flavour"], "someone/theirs#7"),   # no repository known
])
def test_an_upstream_report_is_an_issue_or_pull_request_of_the_frameworks_repository(link, reason, flavours, expected):
    assert digest.upstream({"link": link, "reason": reason}, flavours) == expected


def test_every_module_a_flavour_imports_has_its_repositories():
    from layerconf import specs
    modules = {m for name in specs.flavour_names() for m in specs.manifest(name)["imports"]}
    assert modules <= set(digest.REPOSITORIES)


def test_the_scorecard_counts_each_columns_checks():
    torch, keras = report.build([document()]).columns
    assert digest.scorecard(torch) == {"passed": 11, "declared": 1, "failing": 0, "not applicable": 1, "skipped": 0}
    assert digest.scorecard(keras) == {"passed": 11, "declared": 0, "failing": 1, "not applicable": 1, "skipped": 0}


def test_markdown_puts_the_digest_then_the_scorecard_above_the_matrix():
    doc = document()
    _declared(doc, "torch")["deviation"]["link"] = ISSUE
    text = report.markdown(report.build([doc]))
    assert text.index("## Findings") < text.index("## Scorecard") < text.index("## Conformance matrix")
    assert "1 failure signature(s) (1 failing checks) and 1 declared deviation(s) (1 with an upstream report, 0 without)" in text
    assert ("| F1 | ❌ `bn.train.output` failed: bn.train.output[layout=NCHW] on keras-jax | keras-jax 3.11.0 | 1 | "
            "worst error 0.002 (4.5x tol) | - | - |") in text
    assert (f"| D1 | ⚠️ `bn.error.momentum`: r (specs/deviations/torch.yaml, entry 0) | torch 2.9.1+cpu | 1 | no_error | "
            f"[link]({ISSUE}) | yes: pytorch/pytorch#12345 |") in text
    assert "| flavour | version | device | run | passed | declared | failing | not applicable | skipped |" in text
    assert "| torch | 2.9.1+cpu | cpu | - | 11 | 1 | 0 | 1 | 0 |" in text


def test_html_filters_by_flavour_and_outcome_inline():
    page = report.html(report.build([document()]))
    assert page.index('id="findings"') < page.index('id="scorecard"') < page.index('id="matrix"')
    assert '<option value="1">keras-jax 3.11.0</option>' in page and '<option value="deviation_fixed">' in page
    assert '<tr class="filtered" data-columns="1" data-outcomes="failed">' in page      # the failure signature
    assert '<tr class="filtered" data-columns="0" data-outcomes="deviation">' in page   # the declaration
    assert 'data-column="1" data-outcomes="passed not_applicable failed"' in page     # a matrix cell
    assert '<details class="filtered" data-columns="1" data-outcomes="failed">' in page
    assert "function applyFilter()" in page and "<script src" not in page
    assert not re.search(r"""(src|href)=["'](?!https://github|#|data:)""", page)


def test_the_report_renders_to_the_same_bytes_twice(tmp_path):
    doc = document()
    for name in ("a", "b"):
        report.write(tmp_path / name, [doc])
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 5
    for path in files:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes(), path
    assert "<dc:date>" not in (tmp_path / "a" / "report.html").read_text()
