"""The audit's HTML page (layerconf audit --html) and the report's section "Audits of your models" (layerconf report
--audit), rendered from the JSON document alone: every hazard with its fix, every layer's row, every difference of a
comparison with its size and fixes; a file that is not an audit document is refused (exit 2). No framework (a real
torch audit to HTML: tests/self/test_audit_torch.py)."""
import argparse
import json
import re

import pytest

from layerconf import cli, report, specs
from layerconf.audit import command, compare, compare_text, document, hazards, measure, pytorch, text
from layerconf.audit.records import INFERENCE, PASSES, TRAINING, Observed, Setting
from tests.self.documents import document as results_document
from tests.self.test_audit import _bn_call, _bn_layer, _measured
from tests.self.test_audit_compare import _layer

TORCH, ORT = specs.profile("torch"), specs.profile("onnxruntime")
LINK = "https://github.com/example/declared"


def _audit_doc() -> dict:
    """A frozen BatchNorm whose statistics moved, with a momentum copied from Keras, and its step output off the
    reference; a Dropout that drops in inference."""
    norm = _measured(_bn_layer(path="backbone.bn", frozen=True, statistics_changed=True, left_in=INFERENCE,
                               settings=[Setting("decay", 0.01, {"momentum": 0.99}), Setting("eps", 1e-5, {"eps": 1e-5})]))
    call = _bn_call(True)
    call.y = call.y + 1e-2
    norm.measured["step"] = measure.measured(_bn_layer(), call, TORCH)
    drop = _measured(_bn_layer(path="head.drop", cls="torch.nn.Dropout", family="dropout", kind="element",
                               settings=[Setting("rate", 0.5, {"p": 0.5})], frozen=None), inference=TRAINING)
    layers = [norm, drop]
    observed = Observed(layers, "torch 0", pytorch.KEPT, pytorch.DEFAULT_STEP, "(16, 4) float32")
    return document.portable(text.document("torch", "m:build", observed, hazards.grouped(layers, TORCH, pytorch)))


def _explain(kind, pass_name, a, b):
    if kind != "mode":
        return []
    return [{"declared": "specs/deviations/x.yaml, entry 1", "flavour": "x", "reason": "Why it differs. More.", "link": LINK},
            {"fix": "export it the other way"}]


def _compare_doc() -> dict:
    """By name: a BatchNorm trained in A and in inference in B (declared, with a fix), one whose running variance B
    updates without the n/(n-1) correction (the porting table's line), one layer of A alone."""
    a = [_layer("bn"), _layer("bn2"), _layer("extra")]
    b = [_layer("bn", step=False), _layer("bn2", correction="biased")]
    sides = {"A": {"target": "m:a", "flavour": "torch"}, "B": {"target": "b.onnx", "flavour": "onnxruntime"}}
    observed = tuple(Observed(layers, "v", "kept", "step", "(16, 4) float64") for layers in (a, b))
    return document.portable(compare.document(sides, observed, "name", (TORCH, ORT), _explain))


def test_documents_of_both_kinds_match_the_schema():
    audit, compared = _audit_doc(), _compare_doc()
    assert (document.kind(audit), document.kind(compared)) == ("audit", "compare")
    assert set(document.SCHEMA["$defs"]["layer"]["required"]) >= set(PASSES)
    assert {f for _, d in compare_text.differences(compared) for f in map(frozenset, d["fixes"])} >= {
        frozenset({"declared", "flavour", "reason", "link"}), frozenset({"fix"}), frozenset({"porting"})}
    broken = json.loads(json.dumps(audit))
    del broken["layers"][0]["step"]["check"]["margin"]
    with pytest.raises(document.DocumentError, match="layers/0/step/check: 'margin' is a required property"):
        document.validate(broken, "f.json")


def _rows(page: str, table_start: str) -> list[str]:
    """The rows of the table whose header row starts with ``table_start``."""
    table = page.split(table_start, 1)[1].split("</table>", 1)[0]
    return [row for row in table.split("<tr")[1:]]


def test_the_page_has_every_hazard_with_its_fix_and_every_layer():
    doc = _audit_doc()
    page = report.audit_page(doc)
    assert not re.search(r"""(src|href)=["'](?!https://|#)""", page)   # self-contained
    assert page.count("<style>") == 1 and "td.s-failed" in page
    hazard_rows = _rows(page, "<tr><th>#</th><th>hazard</th>")
    assert len(hazard_rows) == len(doc["hazards"]) == 3
    for row, hazard in zip(hazard_rows, doc["hazards"]):
        assert hazard["title"].replace("'", "&#39;") in row and hazard["fix"].replace("'", "&#39;") in row
        assert all(entry["sentence"].replace("'", "&#39;") in row for entry in hazard["layers"])
    layer_rows = _rows(page, "<tr><th>layer</th>")
    assert len(layer_rows) == 2
    norm, drop = layer_rows
    assert "<code>backbone.bn</code>" in norm and ">training (statistics)<" in norm and ">moved<" in norm
    assert 's-failed" title="output (float64): worst error' in norm and ">FAIL " in norm
    assert "decay 0.01 (momentum=0.99)" in norm and 'href="#audit-1-hazard-1"' in norm and 'href="#audit-1-hazard-3"' in norm
    assert drop.count(">training (output)<") == 2 and 'href="#audit-1-hazard-2"' in drop
    assert "3 hazard(s) on 2 layer(s); 1 check(s) off the reference" in page


def test_the_page_of_a_comparison_has_every_difference_with_its_size_and_fixes():
    doc = _compare_doc()
    page = report.audit_page(doc)
    found = compare_text.differences(doc)
    rows = _rows(page, "<tr><th>#</th><th>A / B</th>")
    assert len(rows) == len(found) and {d["kind"] for _, d in found} >= {"mode", "statistics", "reference"}
    for row, (pair, d) in zip(rows, found):
        assert f"<code>{pair['a']}</code> / <code>{pair['b']}</code>" in row and compare_text.heading(d) in row
        for entry in d["fixes"]:
            shown = entry.get("fix") or entry.get("porting") or "found by this suite (x)"
            assert shown.replace("'", "&#39;") in row
    assert f'<a href="{LINK}"' in page and "<details><summary>the declaration's reason</summary>Why it differs. More." in page
    pair_rows = _rows(page, "<tr><th>A layer</th>")
    assert len(pair_rows) == len(doc["pairs"]) == 2 and ">train ok<" in pair_rows[0] and ">infer ok<" in pair_rows[0]
    assert "Only in A: <code>extra</code>" in page and "1 layer(s) unpaired" in page


def test_the_report_has_a_section_of_audits(tmp_path):
    audit, compared = _audit_doc(), _compare_doc()
    paths = report.write(tmp_path, [results_document()], [audit, compared])
    page, markdown = paths["html"].read_text(), paths["markdown"].read_text()
    assert '<a href="#audits">Audits</a>' in page and '<h2 id="audits">Audits of your models</h2>' in page
    assert '<section class="audit" id="audit-1">' in page and '<section class="audit" id="audit-2">' in page
    assert page.count("<style>") == 1
    section = markdown.split("## Audits of your models", 1)[1]
    for layer in audit["layers"]:   # the terminal's row, cell by cell
        assert "| " + " | ".join(text.cells(layer)) + " |" in section
    for hazard in audit["hazards"]:
        assert f"**{hazard['title']}**" in section and f"   - fix: {hazard['fix']}" in section
    for i, (pair, d) in enumerate(compare_text.differences(compared), 1):
        assert f"{i}. `{pair['a']}` / `{pair['b']}`: **{d['kind']}** ({compare_text.heading(d)})" in section
    assert "Audits" not in report.write(tmp_path / "plain", [results_document()])["markdown"].read_text()


def test_report_audit_on_the_command_line_and_bad_input(tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(results_document()))
    audit = tmp_path / "audit.json"
    audit.write_text(document.text(_audit_doc()))
    compared = tmp_path / "compare.json"
    compared.write_text(document.text(_compare_doc()))
    out = tmp_path / "out"
    assert cli.main(["report", str(results), "--audit", str(audit), "--audit", str(compared), "--output", str(out)]) == 0
    assert (out / "report.html").read_text().count('<section class="audit"') == 2
    broken = tmp_path / "broken.json"
    broken.write_text(document.text({**_audit_doc(), "hazards": [{"title": "t"}]}))
    truncated = tmp_path / "truncated.json"
    truncated.write_text(audit.read_text()[:100])
    cases = {("--audit", str(results)): "found 'layerconf.results/1': not a layerconf audit document",
             ("--audit", str(broken)): "hazards/0: 'hazard' is a required property",
             ("--audit", str(truncated)): "not valid JSON (truncated?)",
             ("--audit", str(tmp_path / "none.json")): "cannot read"}
    for option, message in cases.items():
        assert cli.main(["report", str(results), *option, "--output", str(tmp_path / "refused")]) == 2
        assert message in capsys.readouterr().err and not (tmp_path / "refused" / "report.html").exists()
    assert cli.main(["report", str(audit), "--output", str(tmp_path / "refused")]) == 2
    assert "give it to layerconf report with --audit" in capsys.readouterr().err
    assert cli.parser().parse_args(["run", "--audit", "a.json", "--audit", "b.json"]).audit == ["a.json", "b.json"]


def _execute(target, html, as_json=True):
    return command.execute(argparse.Namespace(flavour="torch", target=target, json=as_json, html=html))


def test_audit_html_writes_the_page_of_the_json_document(tmp_path, capsys, monkeypatch):
    assert _execute("m:f", str(tmp_path / "no" / "page.html")) == 2   # checked before the audit runs
    assert "--html" in capsys.readouterr().err
    monkeypatch.setattr(command, "audit", lambda flavour, target: _audit_doc())
    page = tmp_path / "page.html"
    assert _execute("m:f", str(page)) == 1
    printed = tmp_path / "printed.json"
    printed.write_text(capsys.readouterr().out)
    assert page.read_text() == report.audit_page(document.read(printed))   # one source: the JSON document

