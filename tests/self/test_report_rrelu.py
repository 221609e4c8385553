"""layerconf.report: the RReLU convention rows (slopes, invalid bounds) and their porting lines."""
from layerconf.report import conventions, porting


def _record(behaviour, params, **observed):
    return {"behaviour": behaviour, "params": params, "outcome": "passed", "observed": observed}


def _records(inference_slope, bounds_outcomes):
    """One column: a float64 and a float32 inference check (the float32 one ignored), a KS check, invalid bounds."""
    return [_record("rrelu.eval.values", {"lower": 0.25, "upper": 0.4, "dtype": "float64"},
                    rrelu_inference_slope=inference_slope),
            _record("rrelu.eval.values", {"lower": 0.25, "upper": 0.4, "dtype": "float32"}, rrelu_inference_slope=0.3),
            _record("rrelu.train.uniform", {"lower": 0.1, "upper": 0.4}, rrelu_slope_range=[0.10001, 0.39999]),
            *(_record("rrelu.bounds.invalid", {"bounds": k}, rrelu_invalid_bounds=v) for k, v in bounds_outcomes.items())]


def test_slopes_tell_float64_from_float32_arithmetic_and_check_the_range():
    torch = conventions.conventions(_records(0.325, {"negative_lower": "accepted"}))
    paddle = conventions.conventions(_records(0.32499998807907104, {"negative_lower": "error (ValueError)"}))
    other = conventions.conventions(_records(0.25, {}))
    assert torch["rrelu_slopes"].value == ("float64", True)
    assert paddle["rrelu_slopes"].value == ("float32", True)
    assert "(lower + upper) / 2 in float32" in paddle["rrelu_slopes"].text   # fl32(fl32(0.25) + fl32(0.4)) / 2
    assert other["rrelu_slopes"].value == ("other", True) and "NOT" in other["rrelu_slopes"].text
    assert torch["rrelu_bounds"].text == "negative lower: accepted"
    lines = porting.pairs({"torch": torch, "paddle": paddle})[0].remaining
    assert any(s.startswith("RReLU slopes: torch inference 0.325") for s in lines)
    assert "RReLU invalid bounds: torch negative lower: accepted; paddle negative lower: error (ValueError)" in lines


def test_no_rrelu_records_leave_the_rows_unmeasured():
    c = conventions.conventions([])
    assert (c["rrelu_slopes"].value, c["rrelu_bounds"].value) == (None, None)
