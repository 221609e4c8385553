"""layerconf.deviations: declarations matched by behaviour, parameters and version; signatures judged."""
from pathlib import Path

import numpy as np
import pytest
import yaml

from layerconf import deviations, specs
from layerconf.checks import Check, Failure
from layerconf.outcomes import Outcome


def declaration(signature, behaviours=("bn.error.momentum",), where=None, versions=">=0", flavours=None, devices=None):
    return deviations.Declaration("torch", 0, tuple(behaviours), flavours, where or {}, versions, "a reason here",
                                  "https://example.org", signature, devices=devices)


@pytest.mark.parametrize("flavour", specs.flavour_names())
def test_every_declaration_validates_and_covers_a_case_of_its_flavours(flavour):
    for d in deviations.declarations(flavour):
        assert d.flavours is None or flavour in d.flavours
        assert d.signature["kind"] in ("no_error", "error", "message", "value", "property", "convention")


def test_families_share_one_file():
    assert {specs.manifest(n)["deviations"][0] for n in ("keras-tensorflow", "keras-jax", "keras-torch")} == {"keras3"}
    assert {specs.manifest(n)["deviations"][0] for n in ("flax-linen", "flax-nnx")} == {"flax"}
    narrowed = [d for d in deviations.declarations("keras-jax") if d.flavours]
    assert narrowed and all("keras-jax" in d.flavours for d in narrowed)
    assert not [d for d in deviations.declarations("keras-tensorflow") if d.flavours and "keras-tensorflow" not in d.flavours]


@pytest.mark.parametrize("params, version, applies", [
    ({"layout": "NC"}, "2.2.0", True),
    ({"layout": "NC"}, "2.9.0rc1", True),                  # release candidates are versions too
    ({"layout": "NC"}, "2.10.0.dev20250101+cu128", False),  # PEP 440: a pre-release of 2.10 is not below 2.10
    ({"layout": "NC"}, "2.10.0", False),
    ({"layout": "NCHW"}, "2.2.0", False),
])
def test_a_declaration_applies_by_behaviour_parameters_and_version(params, version, applies):
    d = declaration({"kind": "no_error"}, where={"layout": ["NC"]}, versions="<2.10")
    assert d.applies("torch", "bn.error.momentum", params, version) is applies
    assert not d.applies("torch", "bn.error.eps", params, version)
    assert not declaration({"kind": "no_error"}, flavours=("keras-jax",)).applies("torch", "bn.error.momentum", params, "2.2")


def test_two_declarations_for_one_case_are_refused():
    a, b = declaration({"kind": "no_error"}), declaration({"kind": "no_error"}, where={"layout": "NC"})
    with pytest.raises(specs.SpecError, match="both declare bn.error.momentum"):
        deviations.applying([a, b], "torch", "bn.error.momentum", {"layout": "NC"}, "2.9.1")
    assert deviations.applying([b], "torch", "bn.error.momentum", {"layout": "NC"}, "2.9.1") is b


@pytest.mark.parametrize("entry, message", [
    ({"behaviours": ["bn.error.colour"]}, "'bn.error.colour' is not in the catalogue"),
    ({"where": {"dtype": "float32"}}, "bn.error.momentum has no parameter 'dtype'"),
    ({"where": {"layout": ["NC", "NHWC"]}}, "where/layout: ['NHWC'] not in bn.error.momentum's grid ['NC']"),
    ({"flavours": ["keras-jax"]}, "'keras-jax' does not list 'torch' in its manifest's deviations"),
    ({"behaviours": ["bn.train.cumulative_average"], "where": {"layout": "NCHW"},
      "signature": {"kind": "convention", "profile": {"batchnorm.colour": 1}}},
     "batchnorm.colour is not a field of a profile"),
    ({"behaviours": ["do.gaussian.variance"]}, "covers no case that applies to torch: a stale declaration"),
])
def test_declarations_that_cannot_apply_are_refused_by_name(tmp_path, monkeypatch, entry, message):
    base = {"behaviours": ["bn.error.momentum"], "versions": ">=0", "reason": "a reason here",
            "link": "https://example.org", "signature": {"kind": "no_error"}}
    (tmp_path / "torch.yaml").write_text(yaml.safe_dump([{**base, **entry}]))
    monkeypatch.setattr(specs, "deviation_file", lambda name, *directory: specs.load_yaml(tmp_path / f"{name}.yaml", "deviations"))
    with pytest.raises(specs.SpecError, match="specs/deviations/torch.yaml, entry 0") as err:
        deviations.declarations("torch")
    assert message in str(err.value)


def test_the_schema_wants_a_signature_of_a_known_kind(tmp_path):
    entry = {"behaviours": ["bn.error.momentum"], "versions": ">=0", "reason": "a reason here", "link": "https://x.org"}
    for signature in (None, {"kind": "maybe"}, {"kind": "value"}, {"kind": "error"}):
        (tmp_path / "torch.yaml").write_text(yaml.safe_dump([{**entry, "signature": signature}] if signature else [entry]))
        with pytest.raises(specs.SpecError, match="torch.yaml: 0"):
            specs.load_yaml(tmp_path / "torch.yaml", "deviations")


OURS = {"behaviours": ["bn.error.eps"], "flavours": ["torch"], "versions": ">=2", "reason": "our build accepts eps=0",
        "link": "https://example.org/ours", "signature": {"kind": "no_error"}}


def users_file(tmp_path, entries) -> Path:
    path = tmp_path / "ours.yaml"
    path.write_text(entries if isinstance(entries, str) else yaml.safe_dump(entries))
    return path


def test_a_users_file_adds_declarations_on_top_of_the_shipped_ones_or_instead(tmp_path):
    everywhere = {k: v for k, v in OURS.items() if k != "flavours"} | {"behaviours": ["do.gaussian.variance"]}
    path = users_file(tmp_path, [OURS, {**OURS, "flavours": ["keras-jax"]}, everywhere])   # torch has no gaussian dropout
    shipped = deviations.declarations("torch")
    both = deviations.declarations("torch", [path])
    assert both[: len(shipped)] == shipped and [d.name for d in both[len(shipped):]] == [f"{path}, entry 0", f"{path}, entry 2"]
    assert both[-2].record()["source"] == str(path) and shipped[0].record()["source"] == "specs/deviations/torch.yaml"
    assert deviations.declarations("torch", [path], shipped=False) == both[len(shipped):]
    assert deviations.declarations("torch", shipped=False) == []


@pytest.mark.parametrize("entries, message", [
    ([{**OURS, "behaviours": ["bn.error.colour"]}], ", entry 0: behaviours: 'bn.error.colour' is not in the catalogue"),
    ([{**OURS, "flavours": ["caffe"]}], ", entry 0: flavours: 'caffe' is not a flavour (equinox, "),
    ([{**OURS, "behaviours": ["do.gaussian.variance"]}], ", entry 0: covers no case that applies to torch: a stale declaration"),
    ([{**OURS, "versions": "soon"}], ", entry 0: versions: 'soon' is not a PEP 440 specifier set"),
    ([{k: v for k, v in OURS.items() if k != "signature"}], ": 0: 'signature' is a required property"),
    ({"torch": [OURS]}, ": (top level): {'torch': "),
    ("- behaviours: [bn.error.eps\n", ": cannot read: while parsing"),
])
def test_a_users_file_that_cannot_apply_is_refused_naming_the_option_and_the_file(tmp_path, entries, message):
    path = users_file(tmp_path, entries)
    with pytest.raises(specs.SpecError) as err:
        deviations.declarations("torch", [path], shipped=False)
    assert str(err.value).startswith(f"--deviations {path}{message}")


def test_a_users_file_that_is_missing_is_refused(tmp_path):
    with pytest.raises(specs.SpecError, match=f"^--deviations {tmp_path}/none.yaml: cannot read: "):
        deviations.declarations("torch", [tmp_path / "none.yaml"])


def failures(*pairs, soft=True):
    """Failures as a soft check records them: ('close', actual, expected), ('error', exc), ('accepted',)."""
    check = Check("c", "torch", "2.9.1", "y = x", soft=soft)
    for kind, *args in pairs:
        {"close": lambda a, e: check.close("y", np.asarray(a), np.asarray(e, float)),
         "equal": lambda a, e: check.equal("mask", np.asarray(a), np.asarray(e)),
         "accepted": lambda: check.expect_error(None, "eps=-1 was accepted"),
         "untrue": lambda name: check.true(name, False, "two replicas drew the same mask"),
         "message": lambda err: check.message_states(err, "rate"),
         "raised": lambda err: check.expect_no_error(err)}[kind](*args)
    return check.failures


def judge(signature, observed_failures, observed=None, dtype="float64", rerun=lambda overrides: [], **where):
    return deviations.judge(declaration(signature, **where), observed_failures, observed or {}, dtype, rerun)


def test_no_error_signature():
    assert judge({"kind": "no_error"}, failures(("accepted",))).outcome is Outcome.DEVIATION
    verdict = judge({"kind": "no_error"}, failures(("raised", ValueError("momentum 1.5 not in [0, 1]"))))
    assert verdict.outcome is Outcome.FAILED and "outside the declared deviation's signature" in verdict.text
    escaped = judge({"kind": "no_error"}, [Failure.from_exception(ValueError("momentum 1.5 not in [0, 1]"))])
    assert escaped.outcome is Outcome.ERROR   # an exception through the test is an error, declared or not


def test_a_deviation_that_stops_failing_is_fixed():
    verdict = judge({"kind": "no_error"}, [])
    assert verdict.outcome is Outcome.DEVIATION_FIXED and "no longer reproduces" in verdict.text


def test_error_and_message_signatures_match_type_and_message():
    boom = RuntimeError("rate must be a scalar tensor or a float in the range [0, 1), got 1")
    sig = {"kind": "error", "type": "RuntimeError", "message": r"in the range \[0, 1\)"}
    assert judge(sig, failures(("raised", boom))).outcome is Outcome.DEVIATION
    assert judge({**sig, "type": "ValueError"}, failures(("raised", boom))).outcome is Outcome.FAILED
    assert judge(sig, [Failure.from_exception(RuntimeError("segfault in the kernel"))]).outcome is Outcome.ERROR
    message = {"kind": "message", "message": r"ratio must be in the range \[0, 1\)"}
    assert judge(message, failures(("message", RuntimeError("ratio must be in the range [0, 1)")))).outcome is Outcome.DEVIATION
    assert judge(message, failures(("message", RuntimeError("out of memory")))).outcome is Outcome.FAILED


@pytest.mark.parametrize("error, outcome", [
    (3e-7, Outcome.DEVIATION),          # float32 rounding: within the float32 tolerance, outside float64's
    (3e-4, Outcome.FAILED),             # a thousand times the declared size
    (np.nan, Outcome.FAILED),           # a NaN is never a rounding error
])
def test_value_signature_bounds_the_error(error, outcome):
    observed = failures(("close", [1.0, 2.0 + error], [1.0, 2.0]))
    assert judge({"kind": "value", "within_tolerance": "float32"}, observed).outcome is outcome
    assert judge({"kind": "value", "max_error": 1e-6}, observed).outcome is outcome
    assert judge({"kind": "value", "quantities": ["z"], "max_error": 1.0}, observed).outcome is Outcome.FAILED


def test_property_signature_names_the_properties_that_may_fail():
    same = failures(("untrue", "distinct masks"))
    assert judge({"kind": "property", "quantities": ["distinct masks"]}, same).outcome is Outcome.DEVIATION
    verdict = judge({"kind": "property", "quantities": ["identical masks"]}, same)
    assert verdict.outcome is Outcome.FAILED and "'identical masks' does not hold" in verdict.text
    wrong = failures(("untrue", "distinct masks"), ("close", [1.5], [1.0]))   # a value failure is not a property's
    assert judge({"kind": "property", "quantities": ["distinct masks"]}, wrong).outcome is Outcome.FAILED


def test_a_nan_fits_only_a_signature_that_declares_it():
    nan = failures(("close", [np.nan, 2.0], [1.0, 2.0]))
    assert judge({"kind": "value", "non_finite": True}, nan).outcome is Outcome.DEVIATION
    assert judge({"kind": "value", "non_finite": True}, failures(("close", [1.5], [1.0]))).outcome is Outcome.FAILED
    assert judge({"kind": "value", "max_error": 1e300}, nan).outcome is Outcome.FAILED


def test_an_exception_under_a_value_signature_is_an_error_not_a_deviation():
    observed = failures(("close", [2.0 + 3e-7], [2.0])) + [Failure.from_exception(MemoryError("out of memory"))]
    verdict = judge({"kind": "value", "within_tolerance": "float32"}, observed)
    assert verdict.outcome is Outcome.ERROR and "out of memory" in verdict.text


def test_convention_signature_reruns_the_check_under_the_declared_convention():
    calls = []

    def rerun(overrides, result):
        calls.append(overrides)
        return result

    observed = failures(("close", [1.04], [1.0]))
    sig = {"kind": "convention", "profile": {"batchnorm.running_var_correction": "unbiased"}}
    assert judge(sig, observed, rerun=lambda o: rerun(o, [])).outcome is Outcome.DEVIATION
    assert calls == [{"batchnorm.running_var_correction": "unbiased"}]
    verdict = judge(sig, observed, rerun=lambda o: rerun(o, failures(("close", [1.02], [1.0]))))
    assert verdict.outcome is Outcome.FAILED and "with the reference following" in verdict.text
    assert judge(sig, failures(("accepted",)), rerun=lambda o: rerun(o, [])).outcome is Outcome.FAILED


def test_observed_values_in_a_signature_must_be_measured():
    sig = {"kind": "convention", "profile": {"batchnorm.running_var_correction": "unbiased"}, "observed": {"running_var_factor": "27/26"}}
    observed = failures(("close", [1.04], [1.0]))
    assert judge(sig, observed, {"running_var_factor": 27 / 26 * (1 + 1e-7)}, "float32").outcome is Outcome.DEVIATION
    verdict = judge(sig, observed, {"running_var_factor": 1.5}, "float32")
    assert verdict.outcome is Outcome.FAILED and "observed running_var_factor = 1.5, declared 1.038" in verdict.text
    assert judge(sig, observed, {}, "float32").outcome is Outcome.FAILED


def test_the_verdict_shows_declaration_and_observation_side_by_side():
    text = judge({"kind": "value", "max_error": 1e-6}, failures(("close", [2.0 + 3e-7], [2.0]))).text
    assert "declared (specs/deviations/torch.yaml, entry 0): wrong values, max |error| <= 1e-06" in text
    assert "observed (value): y (float64): worst error 3.000e-07" in text and "reason: a reason here" in text


def test_a_convention_the_inputs_cannot_tell_apart_still_holds_and_a_fixed_one_is_reported():
    sig = {"kind": "convention", "profile": {"batchnorm.update_weight_dtype": "float32"}}
    both = judge(sig, [], rerun=lambda overrides: [])
    assert both.outcome is Outcome.DEVIATION and "cannot tell apart" in both.text
    fixed = judge(sig, [], rerun=lambda overrides: failures(("close", [1.0 + 1e-8], [1.0])))
    assert fixed.outcome is Outcome.DEVIATION_FIXED and "passes as documented and fails with the reference" in fixed.text


def test_a_bound_with_non_finite_takes_garbage_within_the_bound_or_nan():
    sig = {"kind": "value", "max_error": 1000, "non_finite": True}
    assert judge(sig, failures(("close", [np.nan, 90.0], [1.0, 2.0]))).outcome is Outcome.DEVIATION
    assert judge(sig, failures(("close", [5000.0], [1.0]))).outcome is Outcome.FAILED


def test_a_declaration_scoped_to_a_device_applies_on_that_device_only():
    d = declaration({"kind": "no_error"}, devices=("cuda",))
    assert deviations.applying([d], "torch", d.behaviours[0], {}, "2.9.1", "cuda") is d
    assert deviations.applying([d], "torch", d.behaviours[0], {}, "2.9.1", "cpu") is None
    assert d.record()["devices"] == ["cuda"]
