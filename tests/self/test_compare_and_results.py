"""layerconf.compare, checks, results and deviations: tolerances, failure messages, the JSON round trip."""
import json

import ml_dtypes
import numpy as np
import pytest

from layerconf import results, specs
from layerconf.checks import Check, CheckFailure
from layerconf.compare import compare, dtype_name
from layerconf.reference import statistics as stats
from layerconf.reference.statistics import Region

EXPECTED = np.array([1.0, -2.0, 0.0, 50.0])


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_compare_at_the_tolerance_boundary(dtype):
    tol = specs.tolerances()[dtype]
    bound = tol["atol"] + tol["rtol"] * np.abs(EXPECTED)
    inside = compare("y", EXPECTED + 0.99 * bound, EXPECTED, dtype)
    assert inside.passed and inside.margin == pytest.approx(0.99, rel=1e-6)
    assert (inside.rtol, inside.atol) == (tol["rtol"], tol["atol"])
    outside = compare("y", EXPECTED - 1.01 * bound * (np.arange(4) == 3), EXPECTED, dtype)
    assert not outside.passed and outside.margin == pytest.approx(1.01, rel=1e-6)
    assert outside.worst_index == (3,) and outside.expected_at_worst == 50.0
    assert outside.worst_error == pytest.approx(1.01 * bound[3], rel=1e-6)


def test_compare_takes_the_tolerance_of_the_actual_dtype():
    assert dtype_name(np.zeros(2, np.float32)) == "float32"
    assert dtype_name(np.zeros(2, ml_dtypes.bfloat16)) == "bfloat16"
    assert dtype_name(np.zeros(2, np.int64)) == "float64"
    x = np.float32(1.0) + np.float32(2 ** -20)
    assert compare("y", np.array([x], np.float32), [1.0]).passed          # 1e-6 off: fine in float32
    assert not compare("y", np.array([x], np.float64), [1.0]).passed      # but not in float64


def test_compare_nan_and_shape():
    bad = compare("y", [1.0, np.nan], [1.0, 2.0], "float32")
    assert not bad.passed and bad.margin == np.inf and bad.worst_index == (1,)
    assert not compare("y", [1.0, 2.0], [1.0, np.nan], "float32").passed
    shape = compare("y", np.zeros((2, 3)), np.zeros((3, 2)), "float32")
    assert not shape.passed and not shape.shape_ok
    assert "shape (2, 3), expected (3, 2)" in shape.describe()
    assert not compare("y", np.zeros(6), np.zeros((6, 1)), "float32").passed  # no broadcasting


def test_compare_nan_where_nan_is_expected_passes():
    result = compare("y", [1.0, np.nan], [1.0, np.nan], "float32")
    assert result.passed and result.margin == 0.0


def make_check():
    return Check("bn.train.output[layout=NC,dtype=float32]", "torch", "2.9.1", "y = gamma (x - mean_B) / sqrt(var_B + eps) + beta")


def test_check_close_failure_message():
    check = make_check()
    check.close("y", np.array([1.0, 2.0], np.float32), [1.0, 2.0])
    with pytest.raises(CheckFailure) as err:
        check.close("y", np.array([1.0, 2.5], np.float32), [1.0, 2.0])
    message = str(err.value)
    for part in ("bn.train.output[layout=NC,dtype=float32]", "torch 2.9.1", "sqrt(var_B + eps)",
                 "expected 2,", "actual 2.5", "index (1,)", "(float32)"):
        assert part in message, part
    assert isinstance(err.value, AssertionError)
    summary = check.summary()
    assert summary["quantity"] == "y" and summary["worst_error"] == pytest.approx(0.5)
    assert summary["tolerance"] == {"dtype": "float32", "rtol": 1e-5, "atol": 1e-5}


def test_check_equal_and_true():
    check = make_check()
    check.equal("y", np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    with pytest.raises(CheckFailure, match="bit-for-bit") as err:
        check.equal("y", np.array([1.0, 1.0 + 1e-16 * 2]), np.array([1.0, 1.0]))
    assert err.value.failure.kind == "value" and err.value.failure.worst_error == pytest.approx(2.2e-16, rel=0.1)
    with pytest.raises(CheckFailure, match="raised: nothing") as err:
        check.true("mask", False, "raised: nothing")
    assert (err.value.failure.kind, err.value.failure.quantity) == ("property", "mask")


def test_check_errors_expected_and_not():
    check = make_check()
    check.expect_error(ValueError("eps must be positive"), "eps=-1 was accepted")
    check.message_states(ValueError("eps must be positive"), "eps")
    check.message_states(None, "eps")                     # nothing raised: the missing error is the failure
    check.expect_no_error(None)
    with pytest.raises(CheckFailure, match="eps=-1 was accepted") as err:
        check.expect_error(None, "eps=-1 was accepted")
    assert err.value.failure.kind == "no_error"
    with pytest.raises(CheckFailure, match="does not state 'rate'") as err:
        check.message_states(RuntimeError("ratio must be in [0, 1)"), "rate", "ratio")
    assert (err.value.failure.kind, err.value.failure.error_type) == ("message", "RuntimeError")
    with pytest.raises(CheckFailure, match="expected a result, raised ZeroDivisionError: boom") as err:
        check.expect_no_error(ZeroDivisionError("boom"))
    assert (err.value.failure.kind, err.value.failure.message) == ("error", "boom")


def test_a_soft_check_collects_every_failure_with_its_size():
    check = Check("c", "torch", "2.9.1", "y = x", soft=True)
    check.close("y", np.array([1.0, 2.0 + 3e-7]), [1.0, 2.0])
    check.close("z", np.array([np.nan]), [1.0])
    check.expect_error(None, "accepted")
    y, z, error = check.failures
    assert (y.kind, y.quantity, z.kind, error.kind) == ("value", "y", "value", "no_error")
    assert y.worst_error == pytest.approx(3e-7, rel=1e-6) and y.margins["float32"] < 1 < y.margins["float64"]
    assert z.worst_error == np.inf and z.margins["bfloat16"] == np.inf
    assert [f["kind"] for f in check.summary()["failures"]] == ["value", "value", "no_error"]
    assert check.summary()["failures"][1]["worst_error"] is None        # JSON has no infinity


def test_observed_keys_are_declared_once():
    check = make_check()
    check.observe("initial_gamma", 1.0)
    with pytest.raises(KeyError, match="'colour' is not declared in layerconf/schemas/observed.json"):
        check.observe("colour", "blue")


def test_check_within_records_statistics():
    check = make_check()
    region = Region(10, 20, 1e-7)
    check.within("dropped", 15, region, {"p=0.6": 0.99})
    with pytest.raises(CheckFailure, match=r"dropped = 21 outside the acceptance region \[10, 20\].*1\.00e-07"):
        check.within("dropped", 21, region, {"p=0.6": 0.99})
    assert [s["value"] for s in check.statistics] == [15.0, 21.0]
    assert check.statistics[0] == {"name": "dropped", "value": 15.0, "region": [10, 20], "false_alarm": 1e-7,
                                   "power": {"p=0.6": 0.99}}
    assert check.summary()["margin"] is None and check.summary()["statistics"] == check.statistics



def test_non_finite_measurements_are_recorded_as_null(tmp_path):
    """A broken layer's NaN must not keep its results from being written (JSON has no NaN)."""
    check = make_check()
    check.observe("running_var_trajectory", [1.0, float("nan"), float("inf")])
    check.observe("default_eps", float("nan"))
    with pytest.raises(CheckFailure):
        check.within("dropped", float("nan"), Region(10, 20, 1e-7), {})
    with pytest.raises(CheckFailure):
        check.close("y", np.float32([np.nan]), [1.0])
    summary = check.summary()
    assert summary["observed"] == {"running_var_trajectory": [1.0, None, None], "default_eps": None}
    assert summary["statistics"][0]["value"] is None and summary["worst_error"] is None
    results.write(tmp_path / "r.json", results.metadata(TORCH_META, 0), [record(outcome="failed", **summary)])

def record(**changes):
    check = make_check()
    check.close("y", np.float32([1.0]), [1.0])
    return {"framework": "torch", "version": "2.9.1+cpu", "behaviour": "bn.train.output", "family": "batchnorm.training",
            "params": {"layout": "NC", "dtype": "float32"}, "check": check.check_id, "outcome": "passed",
            "message": None, "deviation": None, "duration_s": 0.01, **check.summary(), **changes}


TORCH_META = {"torch": {"version": "2.9.1+cpu", "environment": {"cuda": False}}}


def test_results_round_trip(tmp_path):
    meta = results.metadata(TORCH_META, 3)
    records = [record(), record(outcome="failed", message="bn.train.output ... margin 3", check="bn.train.output[x]")]
    path = results.write(tmp_path / "sub" / "r.json", meta, records)
    document = results.read(path)
    assert document == {"schema": results.SCHEMA_ID, "metadata": meta, "records": records}
    with pytest.raises(results.ResultsError, match="records/0/outcome"):
        results.write(tmp_path / "bad.json", meta, [record(outcome="maybe")])


@pytest.mark.parametrize("corrupt, place", [
    (lambda text, doc: text[: len(text) // 2], "not valid JSON (truncated?) at line"),
    (lambda text, doc: json.dumps({"schema": "pytest-json/1", "records": []}),
     "schema: expected 'layerconf.results/1', found 'pytest-json/1'"),
    (lambda text, doc: "[1, 2]", "found 'list'"),
    (lambda text, doc: json.dumps({**doc, "records": [{k: v for k, v in doc["records"][0].items() if k != "outcome"}]}),
     "records/0: 'outcome' is a required property"),
    (lambda text, doc: json.dumps({**doc, "metadata": {**doc["metadata"], "seed": "three"}}), "metadata/seed"),
    (lambda text, doc: json.dumps({**doc, "metadata": {**doc["metadata"], "frameworks": {}}}),
     "records/0: framework torch 2.9.1+cpu is not in metadata/frameworks (none)"),
])
def test_read_rejects_bad_files_naming_file_and_place(tmp_path, corrupt, place):
    good = results.write(tmp_path / "good.json", results.metadata(TORCH_META, 0), [record()])
    path = tmp_path / "bad.json"
    path.write_text(corrupt(good.read_text(), json.loads(good.read_text())))
    with pytest.raises(results.ResultsError) as err:
        results.read(path)
    assert str(err.value).startswith(f"{path}: ") and place in str(err.value)
    with pytest.raises(results.ResultsError, match="cannot read"):
        results.read(tmp_path / "missing.json")


def test_read_rejects_a_binary_file(tmp_path):
    path = tmp_path / "results.json.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00 compressed")
    with pytest.raises(results.ResultsError, match=str(path)):
        results.read(path)


def test_check_rate_is_the_exact_binomial_test():
    check = make_check()
    check.rate("dropped", 4_950, 10_000, 0.5, observe="drop")
    region = stats.binomial_region(10_000, 0.5)
    assert check.statistics == [{"name": "dropped", "value": 4_950.0, "region": [region.lo, region.hi], "false_alarm": region.false_alarm,
                                 "power": {"rate-0.01": stats.binomial_power(10_000, region, 0.49),
                                           "rate+0.01": stats.binomial_power(10_000, region, 0.51)}}]
    assert check.observed == {"drop_fraction": 0.495, "drop_trials": 10_000}
    with pytest.raises(CheckFailure, match=r"dropped = 4000 outside .* \(n = 10000, rate = 0.5, observed fraction 0.40000\)"):
        check.rate("dropped", 4_000, 10_000, 0.5)


def test_check_rate_splits_the_false_alarm_between_parts():
    check = make_check()
    check.rate("flips", 512, 1024, 0.5, stats.shifted(0.5, 0.05, "p"), parts=3, detail="(images)")
    split, region = check.statistics[0], stats.binomial_region(1024, 0.5, stats.FALSE_ALARM / 3)
    assert split["region"] == [region.lo, region.hi] != [stats.binomial_region(1024, 0.5).lo, stats.binomial_region(1024, 0.5).hi]
    assert split["false_alarm"] <= stats.FALSE_ALARM / 3 and list(split["power"]) == ["p-0.05", "p+0.05"]
    assert list(stats.shifted(0.995, 0.01)) == ["rate-0.01"]   # only rates are alternatives


def test_check_variance_and_uniform_record_their_regions():
    check, rng = make_check(), np.random.default_rng(0)
    z = rng.normal(0, 2.0, 1000)
    check.variance("sum (z / sigma)^2", z, 2.0, {"variance x1.1": 1.1}, "(n = 1000)")
    region = stats.chi2_region(1000)
    assert check.statistics[0]["value"] == float(np.sum((z / 2.0) ** 2))
    assert check.statistics[0]["power"] == {"variance x1.1": stats.chi2_power(1000, region, 1.1)}
    check.uniform("KS", rng.uniform(-1, 1, 500), -1, 1, {"halved": (-0.5, 0.5)}, "(n = 500)", parts=2)
    ks = stats.ks_region(500, stats.FALSE_ALARM / 2)
    assert check.statistics[1]["region"] == [0.0, ks.hi]
    assert check.statistics[1]["power"] == {"halved": stats.ks_uniform_power(500, ks, -1, 1, -0.5, 0.5)}
