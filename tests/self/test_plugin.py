"""The plugin end to end on the real conformance tests, with a fake flavour (tests/self/fake_flavour.py):
seeds, records, events, not-applicable cases as data, declared deviations judged by their signature."""
import json
import xml.etree.ElementTree as ET

import hypothesis
import ml_dtypes  # noqa: F401 - as scipy: imported once, before the in-process runs (it cannot register twice)
import pytest
import scipy.stats  # noqa: F401 - imported before pytester's in-process runs, which reload what they import
import yaml
from hypothesis import given
from hypothesis import strategies as st

from layerconf import suite
from tests.self import fake_flavour

pytest_plugins = ["pytester"]
DROPOUT = "test_dropout"   # the dropout module: what the fake flavour has
RATE = {"behaviours": ["do.error.rate"], "versions": ">=0", "reason": "the fake never validates the rate",
        "link": "https://example.org/fake"}
DECLARED = [{**RATE, "signature": {"kind": "no_error"}}]


@pytest.fixture
def run(pytester, monkeypatch):
    """Run the suite on the fake flavour in this process; returns (exit code, records, events). ``option``
    selects the flavour; ``as_suite``: with the arguments ``python -m layerconf.suite`` gives pytest."""
    def go(*args, declarations=(), option="--flavour", as_suite=False):
        fake_flavour.install(monkeypatch, declarations)
        out, events = pytester.path / "r.json", pytester.path / "events.jsonl"
        out.unlink(missing_ok=True)
        events.unlink(missing_ok=True)
        argv = [option, "fake", "-k", DROPOUT, "--results", str(out), "--events", str(events), *args]
        argv = suite.pytest_args(argv) if as_suite else ["--pyargs", "layerconf.conformance", "-p", "no:cacheprovider", *argv]
        result = pytester.runpytest_inprocess(*argv)
        records = json.loads(out.read_text())["records"] if out.exists() else []
        return result.ret, records, [json.loads(line) for line in events.read_text().splitlines()]
    return go


def observed(records):
    return {r["check"]: (r["outcome"], r["observed"], r["statistics"], r["worst_error"]) for r in records}


def test_the_same_seed_gives_the_same_records_and_another_seed_other_draws(run):
    code, first, _ = run("--seed", "7", declarations=DECLARED)
    _, again, _ = run("--seed", "7", declarations=DECLARED)
    _, other, _ = run("--seed", "8", declarations=DECLARED)
    assert code == 0 and observed(first) == observed(again)
    fractions = [{r["check"]: r["observed"].get("drop_fraction") for r in rs if r["behaviour"] == "do.train.rate"}
                 for rs in (first, other)]
    assert fractions[0].keys() == fractions[1].keys() and all(
        fractions[0][c] != fractions[1][c] for c in fractions[0])


def test_not_applicable_travels_as_data_with_its_reason(run):
    _, records, _ = run()
    na = {r["check"]: r["message"] for r in records if r["outcome"] == "not_applicable"}
    assert na["do.noise_shape[rate=0.5]"] == "fake profile has no dropout.arguments.noise_shape"
    assert na["do.eval.identity[rate=0.1,dtype=float16]"].startswith("dtype float16 not in the profile's dtypes")


def test_events_announce_the_flavour_the_checks_and_every_record(run):
    _, records, events = run()
    kinds = [e["event"] for e in events]
    assert kinds[0] == "flavour" and events[0]["version"] == "1.0" and kinds[1] == "collected"
    assert len(events[1]["checks"]) == len(records) and kinds.count("record") == len(records)
    assert [e["record"]["check"] for e in events if e["event"] == "record"] == [r["check"] for r in records]



# A plugin that still asks for the option by its former name (as benchmarks/mutants/plugin.py does), configured
# before layerconf's plugin would be: it comes after it on the command line.
FORMER_NAME_PROBE = """
import json
def pytest_configure(config):
    with open("former-name.json", "w") as f:
        json.dump(config.getoption("framework"), f)
"""


def test_framework_is_the_former_name_of_flavour(run, pytester):
    """python -m layerconf.suite --framework F runs what --flavour F runs, and a plugin asking for
    getoption("framework") gets the flavours selected."""
    pytester.makepyfile(former_name_probe=FORMER_NAME_PROBE)
    pytester.syspathinsert()
    without_duration = lambda records: [{k: v for k, v in r.items() if k != "duration_s"} for r in records]  # noqa: E731
    code, records, events = run("-p", "former_name_probe", declarations=DECLARED, as_suite=True)
    assert code == 0 and records and json.loads((pytester.path / "former-name.json").read_text()) == ["fake"]
    code_alias, records_alias, events_alias = run("-p", "former_name_probe", declarations=DECLARED, option="--framework", as_suite=True)
    assert code_alias == 0 and without_duration(records_alias) == without_duration(records)
    assert [e["event"] for e in events_alias] == [e["event"] for e in events]
    assert json.loads((pytester.path / "former-name.json").read_text()) == ["fake"]


@pytest.mark.parametrize("signature, outcome", [
    ({"kind": "no_error"}, "deviation"),                                              # what it does: declared
    ({"kind": "message", "message": "rate"}, "failed"),                               # another kind: a failure
    ({"kind": "value", "max_error": 1.0}, "failed"),
])
def test_a_declaration_holds_only_within_its_signature(run, signature, outcome):
    code, records, _ = run(declarations=[{**RATE, "signature": signature}])
    rate = [r for r in records if r["behaviour"] == "do.error.rate"]
    assert {r["outcome"] for r in rate} == {outcome} and code == (0 if outcome == "deviation" else 1)
    assert rate[0]["deviation"]["signature"] == signature and rate[0]["failures"][0]["kind"] == "no_error"
    assert ("outside the declared deviation's signature" in rate[0]["message"]) is (outcome == "failed")


def test_a_declaration_that_no_longer_reproduces_fails(run):
    code, records, _ = run(declarations=[{**RATE, "behaviours": ["do.rate.zero"], "signature": {"kind": "no_error"}}])
    (zero,) = [r for r in records if r["behaviour"] == "do.rate.zero"]
    assert zero["outcome"] == "deviation_fixed" and "no longer reproduces" in zero["message"] and code == 1


def rate_outcomes(records) -> set:
    return {r["outcome"] for r in records if r["behaviour"] == "do.error.rate"}


def test_a_users_deviations_file_declares_what_the_build_is_expected_to_do(run, pytester):
    ours = pytester.path / "ours.yaml"
    ours.write_text(yaml.safe_dump([{**RATE, "flavours": ["fake"], "signature": {"kind": "no_error"}}]))
    code, records, _ = run()
    assert code == 1 and rate_outcomes(records) == {"failed"}        # nothing declared: the fake's bug fails
    code, records, _ = run("--deviations", str(ours))
    assert code == 0 and rate_outcomes(records) == {"deviation"}
    assert {r["deviation"]["source"] for r in records if r["deviation"]} == {str(ours)}


def test_no_shipped_deviations_leaves_only_the_users(run, pytester):
    ours = pytester.path / "ours.yaml"
    ours.write_text(yaml.safe_dump([{**RATE, "reason": "declared by the adopter", "signature": {"kind": "no_error"}}]))
    code, records, _ = run("--no-shipped-deviations", declarations=DECLARED)
    assert code == 1 and rate_outcomes(records) == {"failed"}
    code, records, _ = run("--no-shipped-deviations", "--deviations", str(ours), declarations=DECLARED)
    assert code == 0 and {r["deviation"]["reason"] for r in records if r["deviation"]} == {"declared by the adopter"}


def test_a_malformed_users_file_is_a_usage_error_naming_the_option_and_the_file(pytester, monkeypatch):
    fake_flavour.install(monkeypatch)
    ours = pytester.path / "ours.yaml"
    ours.write_text(yaml.safe_dump([{**RATE, "flavours": ["caffe"], "signature": {"kind": "no_error"}}]))
    result = pytester.runpytest_inprocess(*suite.pytest_args(["--flavour", "fake", "--deviations", str(ours)]))
    assert result.ret == pytest.ExitCode.USAGE_ERROR     # python -m layerconf.suite exits 2 for it
    assert f"--deviations {ours}, entry 0: flavours: 'caffe' is not a flavour" in result.stderr.str()


def test_the_suite_writes_junit_and_a_summary(run, pytester):
    xml, markdown = pytester.path / "junit.xml", pytester.path / "summary.md"
    code, records, _ = run("--junit", str(xml), "--summary", str(markdown), declarations=DECLARED)
    (suite_,) = ET.parse(xml).getroot()
    skipped = sum(r["outcome"] in ("deviation", "not_applicable") for r in records)
    assert code == 0 and (suite_.get("name"), suite_.get("tests"), suite_.get("skipped")) == ("fake", str(len(records)), str(skipped))
    assert markdown.read_text().startswith(f"## layerconf: {len(records)} checks on 1 flavour(s): nothing failing")


def test_hypothesis_draws_follow_the_seed_the_plugin_gives():
    drawn = []

    @given(st.data())
    @hypothesis.settings(database=None, max_examples=5)
    def test(data):
        drawn.append(data.draw(st.integers(0, 10**9)))

    for seed in (1, 1, 2):
        hypothesis.seed(seed)(test)
        test()
    assert drawn[:5] == drawn[5:10] != drawn[10:]
