"""layerconf.diff: regressions, fixes, new and removed checks, and the Markdown for a pull request."""
import copy

from layerconf import diff
from tests.self.documents import document, with_outcome

OUTPUT = "bn.train.output[layout=NC]"


def test_identical_runs_have_no_changes():
    changes = diff.compare(document(), document())
    assert (changes.regressions, changes.fixes, changes.new, changes.removed, changes.changed) == ([], [], [], [], [])
    assert changes.old_versions == changes.new_versions == {"torch": "2.9.1+cpu", "keras-jax": "3.11.0"}


def test_each_kind_of_change_lands_in_its_list():
    old = document()
    new = with_outcome(old, OUTPUT, "torch", "failed", version="2.10.0")              # regression
    new = with_outcome(new, "bn.train.output[layout=NCHW]", "keras-jax", "passed")     # fix
    new = with_outcome(new, "bn.error.momentum[layout=NC]", "torch", "deviation_fixed")  # fix: upstream fixed it
    new = with_outcome(new, "bn.train.output[layout=NC]", "keras-jax", "not_applicable")  # other change
    removed = new["records"].pop(0)
    added = copy.deepcopy(new["records"][0])
    added["check"] = "bn.train.output[layout=NCL]"
    new["records"].append(added)
    changes = diff.compare(old, new)
    assert [(c.framework, c.check, c.old, c.new) for c in changes.regressions] == [("torch", OUTPUT, "passed", "failed")]
    assert [(c.check, c.new) for c in changes.fixes] == [("bn.train.output[layout=NCHW]", "passed"),   # by framework
                                                           ("bn.error.momentum[layout=NC]", "deviation_fixed")]
    assert [(c.check, c.old, c.new) for c in changes.removed] == [(removed["check"], "passed", None)]
    assert [(c.check, c.old) for c in changes.new] == [("bn.train.output[layout=NCL]", None)]
    assert [(c.framework, c.new) for c in changes.changed] == [("keras-jax", "not_applicable")]
    assert (changes.old_versions["torch"], changes.new_versions["torch"]) == ("2.9.1+cpu", "2.10.0")


def test_markdown_puts_versions_side_by_side_and_regressions_first():
    new = with_outcome(document(), OUTPUT, "torch", "failed", version="2.10.0")
    new = with_outcome(new, "bn.train.output[layout=NCHW]", "keras-jax", "passed")
    text = diff.to_markdown(diff.compare(document(), new))
    assert "| torch | 2.9.1+cpu | 2.10.0 |" in text and "| keras-jax | 3.11.0 | 3.11.0 |" in text
    assert "**1 regression(s)**, 1 fix(es), 0 new, 0 removed" in text
    assert text.index("### Regressions: passed before, fail now (1)") < text.index("### Fixes (1)")
    assert "| torch | `bn.train.output[layout=NC]` | passed | failed |" in text
    assert "### New checks" not in text                  # empty sections are left out


def test_markdown_shortens_long_lists():
    new = document()
    for r in new["records"]:
        r["outcome"] = "error" if r["outcome"] == "passed" else r["outcome"]
    text = diff.to_markdown(diff.compare(document(), new), limit=3)
    assert "**22 regression(s)**" in text and "| ... | 19 more | | | |" in text
