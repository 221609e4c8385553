"""layerconf.diff: regressions, stale declarations, fixes, new and removed checks, runs that did not complete,
and the Markdown for a pull request."""
import copy

import pytest

from layerconf import diff
from tests.self.documents import document, with_outcome

OUTPUT = "bn.train.output[layout=NC]"


def test_identical_runs_have_no_changes():
    changes = diff.changes(document(), document())
    assert (changes.regressions, changes.fixes, changes.new, changes.removed, changes.changed) == ([], [], [], [], [])
    assert not changes.failing
    assert changes.old_versions == changes.new_versions == {"torch": "2.9.1+cpu", "keras-jax": "3.11.0"}


def test_each_kind_of_change_lands_in_its_list():
    old = document()
    new = with_outcome(old, OUTPUT, "torch", "failed", version="2.10.0")              # regression
    new = with_outcome(new, "bn.train.output[layout=NCHW]", "keras-jax", "passed")     # fix
    new = with_outcome(new, "bn.error.momentum[layout=NC]", "torch", "deviation_fixed")  # the declaration is stale
    new = with_outcome(new, "bn.train.output[layout=NC]", "keras-jax", "not_applicable")  # other change
    removed = new["records"].pop(0)
    added = copy.deepcopy(new["records"][0])
    added["check"] = "bn.train.output[layout=NCL]"
    new["records"].append(added)
    changes = diff.changes(old, new)
    assert [(c.flavour, c.check, c.old, c.new) for c in changes.regressions] == [("torch", OUTPUT, "passed", "failed")]
    assert [(c.check, c.new) for c in changes.fixes] == [("bn.train.output[layout=NCHW]", "passed")]
    assert [(c.check, c.old) for c in changes.stale_declarations] == [("bn.error.momentum[layout=NC]", "deviation")]
    assert [(c.check, c.old, c.new) for c in changes.removed] == [(removed["check"], "passed", None)]
    assert [(c.check, c.old) for c in changes.new] == [("bn.train.output[layout=NCL]", None)]
    assert [(c.flavour, c.new) for c in changes.changed] == [("keras-jax", "not_applicable")]
    assert (changes.old_versions["torch"], changes.new_versions["torch"]) == ("2.9.1+cpu", "2.10.0")


def test_markdown_puts_versions_side_by_side_and_regressions_first():
    new = with_outcome(document(), OUTPUT, "torch", "failed", version="2.10.0")
    new = with_outcome(new, "bn.train.output[layout=NCHW]", "keras-jax", "passed")
    text = diff.to_markdown(diff.changes(document(), new))
    assert "| torch | 2.9.1+cpu | 2.10.0 |" in text and "| keras-jax | 3.11.0 | 3.11.0 |" in text
    assert "**1 regression(s)**, 0 deviation(s) no longer reproducing, 1 fix(es), 0 new, 0 removed" in text
    assert text.index("### Regressions: fine before, failing now (1)") < text.index("### Fixes (1)")
    assert "| torch | `bn.train.output[layout=NC]` | passed | failed |" in text
    assert "### New checks" not in text                  # empty sections are left out


def test_markdown_shortens_long_lists():
    new = document()
    for r in new["records"]:
        r["outcome"] = "error" if r["outcome"] == "passed" else r["outcome"]
    text = diff.to_markdown(diff.changes(document(), new), limit=3)
    assert "**22 regression(s)**" in text and "| ... | 19 more | | | |" in text


def test_a_deviation_that_stops_reproducing_fails_diff_as_it_fails_run():
    new = with_outcome(document(), "bn.error.momentum[layout=NC]", "torch", "deviation_fixed")
    changes = diff.changes(document(), new)
    assert changes.failing and not changes.regressions and len(changes.stale_declarations) == 1
    assert "### Declared deviations that no longer reproduce: update their declarations (1)" in diff.to_markdown(changes)


def test_a_crashed_run_is_named_and_its_unfinished_checks_are_regressions():
    new = with_outcome(document(), OUTPUT, "torch", "not_run")
    new["runs"] = {"torch": {"status": "crashed", "exit_code": -11, "duration_s": 12.0, "command": [], "output_tail": ""},
                   "keras-jax": {"status": "completed", "exit_code": 1, "duration_s": 30.0, "command": [], "output_tail": ""}}
    changes = diff.changes(document(), new)
    assert [(c.check, c.new) for c in changes.regressions] == [(OUTPUT, "not_run")] and changes.failing
    text = diff.to_markdown(changes)
    assert "### Runs that did not complete" in text and "| new | torch | crashed | -11 | 12 |" in text


def test_documents_with_no_flavour_in_common_are_refused():
    only_keras = copy.deepcopy(document())
    only_keras["records"] = [r for r in only_keras["records"] if r["framework"] == "keras-jax"]
    del only_keras["metadata"]["frameworks"]["torch"]
    only_torch = copy.deepcopy(document())
    only_torch["records"] = [r for r in only_torch["records"] if r["framework"] == "torch"]
    del only_torch["metadata"]["frameworks"]["keras-jax"]
    with pytest.raises(diff.NothingInCommon, match=r"OLD has \['torch'\], NEW has \['keras-jax'\]"):
        diff.changes(only_torch, only_keras)


def test_the_message_column_says_what_failed_not_a_traceback_marker():
    record = {"message": "  ^^^^^^^^\nE   ValueError: boom", "failures": [{"kind": "error", "quantity": "call",
              "detail": "raised ValueError: boom"}]}
    assert diff.headline(record) == "raised ValueError: boom"
    assert diff.headline({"message": "   ^^^^^^^\n  x = f()\nValueError: boom"}) == "x = f()"
