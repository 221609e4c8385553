"""layerconf.catalogue: the catalogue's version recorded in results, and diff and report over results of different
catalogues. No framework."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from layerconf import catalogue, cli, results, specs
from tests.self.documents import document, with_outcome


def test_the_version_is_a_hash_of_the_catalogue_files_the_same_in_another_process():
    code = "from layerconf import catalogue; print(catalogue.version())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env=dict(os.environ, PYTHONHASHSEED="7"))
    assert other.stdout.strip() == catalogue.version() and len(catalogue.version()) == 16


def test_the_version_follows_the_files_bytes_and_paths_not_their_order_or_the_matrix(tmp_path):
    copy = tmp_path / "specs"
    shutil.copytree(specs.DIRECTORY, copy, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    assert catalogue.version.__wrapped__(copy) == catalogue.version()
    (copy / "matrix.yaml").write_text("python: '3.12'\n")                  # no check reads it
    assert catalogue.version.__wrapped__(copy) == catalogue.version()
    tolerances = copy / "tolerances.yaml"
    tolerances.write_bytes(tolerances.read_bytes() + b"\n")
    assert catalogue.version.__wrapped__(copy) != catalogue.version()
    tolerances.rename(copy / "flavours" / "tolerances.yaml")               # the same bytes under another path
    assert catalogue.version.__wrapped__(copy) != catalogue.version()


def test_results_record_the_version_and_the_schema_holds_it():
    assert document()["metadata"]["catalogue"] == catalogue.version()
    older = document()
    del older["metadata"]["catalogue"]                                     # written before it was recorded
    assert catalogue.recorded(results.validate(older)) is None
    older["metadata"]["catalogue"] = "specs"
    with pytest.raises(results.ResultsError, match="metadata/catalogue: 'specs' does not match"):
        results.validate(older)


def _files(tmp_path, old_catalogue, new_catalogue):
    old = document()
    new = with_outcome(old, "bn.train.output[layout=NC]", "torch", "failed")
    paths = []
    for name, doc, version in (("old.json", old, old_catalogue), ("new.json", new, new_catalogue)):
        doc["metadata"].pop("catalogue")
        if version:
            doc["metadata"]["catalogue"] = version
        (tmp_path / name).write_text(json.dumps(doc))
        paths.append(str(tmp_path / name))
    return paths


def test_diff_refuses_results_of_different_catalogues_unless_told(tmp_path, capsys):
    old, new = _files(tmp_path, "0" * 16, "1" * 16)
    assert cli.main(["diff", old, new]) == 2
    err = capsys.readouterr().err
    assert f"{old} catalogue 0000000000000000, {new} catalogue 1111111111111111: results of different catalogues" in err
    assert "--allow-catalogue-change compares them anyway" in err
    assert cli.main(["diff", old, new, "--allow-catalogue-change"]) == 1       # the regression still gates
    assert "**Warning**: different catalogues" in capsys.readouterr().out


@pytest.mark.parametrize("versions", [("0" * 16, "0" * 16), (None, "0" * 16)])
def test_diff_compares_one_catalogue_or_one_that_was_not_recorded(tmp_path, capsys, versions):
    assert cli.main(["diff", *_files(tmp_path, *versions)]) == 1
    assert "Warning" not in capsys.readouterr().out


def test_report_warns_of_different_catalogues_and_says_so_in_the_report(tmp_path, capsys):
    old, new = _files(tmp_path, "0" * 16, "1" * 16)
    assert cli.main(["report", old, new, "--output", str(tmp_path / "rep")]) == 0
    assert "layerconf: warning: " in capsys.readouterr().err
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "catalogue 0000000000000000." in text
    assert "**Different catalogues**: run 1 catalogue 0000000000000000, run 2 catalogue 1111111111111111." in text
    assert "Different catalogues" in (tmp_path / "rep" / "report.html").read_text()
