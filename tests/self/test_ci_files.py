"""JUnit XML and the CI summary from results documents (layerconf.junit, layerconf.summary): no framework."""
import xml.etree.ElementTree as ET

import pytest

from layerconf import ci_files, junit, summary
from tests.self.documents import document, with_outcome

STALE = "bn.error.momentum[layout=NC]"     # torch's declared deviation in documents.document()
FAILED = "bn.train.output[layout=NCHW]"     # keras-jax's failure there
RUNS = {"torch": {"status": "completed", "exit_code": 1, "duration_s": 3.0, "command": [], "output_tail": ""},
        "onnxruntime": {"status": "crashed", "exit_code": -11, "duration_s": 1.0, "command": [],
                        "output_tail": "Fatal Python error: Segmentation fault \x1b[0m"}}


def stale_document() -> dict:
    """document() with torch's declared deviation no longer reproducing and one flavour crashed before its checks."""
    doc = with_outcome(document(RUNS), STALE, "torch", "deviation_fixed")
    for r in doc["records"]:
        if r["check"] == STALE:
            r["message"], r["failures"] = "declared deviation no longer reproduces: every assertion passed", []
            r["deviation"]["source"] = "ci/expectations.yaml"
    return doc


def parsed(documents) -> ET.Element:
    root = ET.fromstring(junit.to_xml(documents))
    assert root.tag == "testsuites" and all(s.tag == "testsuite" for s in root)
    for suite in root:   # the common structure: properties first, then testcases only; counts that add up
        assert [c.tag for c in suite if c.tag != "properties"] == ["testcase"] * len(suite.findall("testcase"))
        for key, tag in (("tests", "testcase"), ("failures", "testcase/failure"), ("errors", "testcase/error"),
                         ("skipped", "testcase/skipped")):
            assert int(suite.get(key)) == len(suite.findall(tag)), (suite.get("name"), key)
    for key in ("tests", "failures", "errors", "skipped"):
        assert int(root.get(key)) == sum(int(s.get(key)) for s in root)
    return root


def test_junit_has_one_testcase_per_record_and_the_right_counts():
    doc = stale_document()
    root = parsed([doc])
    suites = {s.get("name"): s for s in root}
    assert list(suites) == ["torch", "keras-jax", "onnxruntime"]
    torch, keras = suites["torch"], suites["keras-jax"]
    assert int(root.get("tests")) == len(doc["records"]) + 1      # and the crashed process
    assert (torch.get("tests"), torch.get("failures"), torch.get("errors"), torch.get("skipped")) == ("13", "1", "0", "1")
    assert (keras.get("tests"), keras.get("failures"), keras.get("errors"), keras.get("skipped")) == ("13", "1", "0", "1")
    assert {p.get("name"): p.get("value") for p in torch.find("properties")} == {"version": "2.9.1+cpu", "device": "cpu"}
    case = keras.find(f"testcase[@name='{FAILED}']")
    assert case.get("classname") == "keras-jax.bn.train.output"
    assert case.find("failure").get("type") == "failed" and "worst error 0.002" in case.find("failure").text
    stale = torch.find(f"testcase[@name='{STALE}']/failure")
    assert stale.get("type") == "deviation_fixed" and "no longer reproduces" in stale.get("message")
    crashed = suites["onnxruntime"].find("testcase[@name='run']/error")
    assert crashed.get("message") == "the flavour's process crashed (exit -11)" and "\x1b" not in crashed.text


def test_a_standard_junit_parser_reads_the_written_file(tmp_path):
    """junitparser (the parser of CI tools' JUnit readers' format) reads what --junit writes: every record's testcase
    with its verdict, the crashed process as an error, counts that add up."""
    junitparser = pytest.importorskip("junitparser", reason="the dev extra (tox -e self) brings the JUnit parser")
    doc = stale_document()
    path = tmp_path / "junit.xml"
    ci_files.write({"--junit": path}, [doc])
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == ["torch", "keras-jax", "onnxruntime"]
    verdict = {"passed": "passed", "failed": "Failure", "deviation_fixed": "Failure", "deviation": "Skipped",
               "not_applicable": "Skipped"}
    for r in doc["records"]:
        (case,) = [c for c in suites[r["framework"]] if c.name == r["check"]]
        assert ([type(e).__name__ for e in case.result] or ["passed"]) == [verdict[r["outcome"]]], r["check"]
    (crashed,) = suites["onnxruntime"]
    assert crashed.is_error and crashed.result[0].message == "the flavour's process crashed (exit -11)"
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (len(doc["records"]) + 1, 2, 1, 2)
    assert sum(suite.tests for suite in xml) == xml.tests


def test_junit_skips_a_declared_deviation_with_its_reason_and_link():
    root = parsed([document()])
    skipped = root.find(f"testsuite[@name='torch']/testcase[@name='{STALE}']/skipped")
    assert skipped.get("message") == ("declared deviation: r (https://github.com/pytorch/pytorch/blob/main/torch/nn/"
                                      "modules/batchnorm.py)")
    assert "declared in specs/deviations/torch.yaml, entry 0" in skipped.text
    na = root.find("testsuite[@name='torch']/testcase[@name='bn.train.output[layout=NHWC]']/skipped")
    assert na.get("message") == "n/a: layout NHWC not in batchnorm.layouts of the profile"


def test_an_error_names_its_exception_type():
    doc = with_outcome(document(), "bn.defaults.eps", "torch", "error")
    for r in doc["records"]:
        if (r["check"], r["framework"]) == ("bn.defaults.eps", "torch"):
            r["failures"] = [{"kind": "error", "quantity": "call", "detail": "raised RuntimeError: boom",
                              "error_type": "RuntimeError", "message": "boom"}]
    error = parsed([doc]).find("testsuite[@name='torch']/testcase[@name='bn.defaults.eps']/error")
    assert (error.get("type"), error.get("message")) == ("RuntimeError", "raised RuntimeError: boom")


def test_the_summary_counts_per_flavour_and_names_failures_and_stale_deviations():
    text = summary.to_markdown([stale_document()], {"report": "out/report.md"})
    lines = text.splitlines()
    assert lines[0] == "## layerconf: 26 checks on 2 flavour(s): 1 failing, 1 stale deviation(s), 1 incomplete run(s)"
    assert "| flavour | version | ❌ fail | 🔔 deviation fixed | ✅ pass | ➖ n/a |" in lines
    assert "| torch | 2.9.1+cpu | 0 | 1 | 11 | 1 |" in lines and "| keras-jax | 3.11.0 | 1 | 0 | 11 | 1 |" in lines
    assert f"- ❌ keras-jax 3.11.0 `{FAILED}`: {FAILED} on keras-jax" in lines
    assert (f"- 🔔 torch 2.9.1+cpu `{STALE}`: declared in ci/expectations.yaml, entry 0 "
            "([link](https://github.com/pytorch/pytorch/blob/main/torch/nn/modules/batchnorm.py)): r") in lines
    assert "- onnxruntime: crashed (exit -11)" in lines and lines[-1] == "Full report: report `out/report.md`"


def test_the_summary_stays_short():
    doc = document()
    for r in doc["records"]:
        r.update(outcome="failed", message="x" * 1000)
    text = summary.to_markdown([doc])
    assert f"- ... and {len(doc['records']) - summary.LIMIT} more: see the full report" in text
    assert max(len(line) for line in text.splitlines()) < summary.WIDTH + 80
    assert summary.to_markdown([document()]).splitlines()[0].endswith(": 1 failing")
