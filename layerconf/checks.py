"""The `check` object a conformance test asserts through, and the failures it observes.

Each assertion is recorded (quantity, worst error, tolerance, margin; or the statistic, its acceptance
region, false-alarm probability and power). A failed assertion is a ``Failure`` of one kind:

- ``value``: a comparison with the reference outside the tolerance (NaN where a number is due counts as
  an infinite error);
- ``statistic``: a statistic outside its acceptance region;
- ``property``: a property that is not a numeric comparison did not hold;
- ``no_error``: the spec expects an error and the framework raised none;
- ``message``: the framework raised the expected error, but its message does not state what it must;
- ``error``: the framework raised where the spec expects a result: observed by the test (quantity
  ``no error``) or escaping it (quantity ``call``: outside a declared deviation, the check is an error).

A hard check raises CheckFailure at the first failure (the test stops; hypothesis sees the failing
draw). A soft check, used when a deviation is declared for the case, collects every failure so the
whole observation can be held against the declaration's signature.
"""
from dataclasses import asdict, dataclass

import numpy as np

from layerconf import observed
from layerconf.compare import compare, errors, margins
from layerconf.reference import statistics as stats


@dataclass(frozen=True)
class Failure:
    kind: str                          # value, statistic, property, no_error, message, error
    quantity: str
    detail: str                        # what was seen, for people
    worst_error: float | None = None   # value: max |actual - expected| (inf for NaN or a shape mismatch)
    margin: float | None = None        # value: max error / tolerance, under the comparison's dtype
    margins: dict | None = None        # value: dtype -> the margin under that dtype's tolerance
    error_type: str | None = None      # error, message: the exception's class
    message: str | None = None         # error, message: the exception's message

    def record(self) -> dict:
        """The failure as JSON data (non-finite numbers as None)."""
        return {k: _finite_tree(v) for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_exception(cls, err: BaseException, quantity: str = "call") -> "Failure":
        return cls("error", quantity, f"raised {type(err).__name__}: {err}", error_type=type(err).__name__,
                   message=str(err))


class CheckFailure(AssertionError):
    """A behaviour differs from the reference; ``failure`` says how."""

    def __init__(self, text: str, failure: Failure):
        super().__init__(text)
        self.failure = failure


class Check:
    def __init__(self, check_id: str, flavour: str, version: str, formula: str, soft: bool = False):
        self.check_id, self.flavour, self.version, self.formula = check_id, flavour, version, formula
        self.soft = soft
        self.comparisons = []   # layerconf.compare.Comparison
        self.statistics = []    # dicts: name, value, region, false_alarm, power
        self.observed = {}      # convention name -> value measured in this check
        self.failures = []      # Failure, in the order they happened

    def headline(self) -> str:
        return f"{self.check_id} on {self.flavour} {self.version}\n  formula: {self.formula}"

    def _fail(self, failure: Failure):
        self.failures.append(failure)
        if not self.soft:
            raise CheckFailure(f"{self.headline()}\n  {failure.detail}", failure)

    def close(self, quantity: str, actual, expected, dtype: str | None = None):
        """Assert actual matches the reference within the tolerance of its dtype."""
        result = compare(quantity, actual, expected, dtype)
        self.comparisons.append(result)
        if not result.passed:
            self._fail(_value_failure(result, actual, expected, result.describe() + _excerpt(actual, expected)))

    def equal(self, quantity: str, actual, expected):
        """Assert bit-for-bit equality (same shape, same values, NaN where NaN)."""
        a, e = np.asarray(actual), np.asarray(expected)
        result = compare(quantity, a, e, "float64")
        self.comparisons.append(result if result.shape_ok else None)
        if not (result.shape_ok and np.array_equal(a, e, equal_nan=True)):
            self._fail(_value_failure(result, a, e, f"{quantity}: expected bit-for-bit equality" + _excerpt(a, e)))

    def true(self, quantity: str, condition: bool, detail: str):
        """Assert a property that is not a numeric comparison; ``detail`` says what was seen."""
        if not condition:
            self._fail(Failure("property", quantity, f"{quantity}: {detail}"))

    def expect_error(self, err: BaseException | None, detail: str):
        """Assert the call raised (``err`` from layerconf.conformance.calls.outcome); ``detail`` says what was
        accepted instead."""
        if err is None:
            self._fail(Failure("no_error", "error", f"error: {detail}"))

    def expect_no_error(self, err: BaseException | None):
        """Assert the call returned instead of raising."""
        if err is not None:
            failure = Failure.from_exception(err, "no error")
            self._fail(Failure(**{**asdict(failure), "detail": f"no error: expected a result, {failure.detail}"}))

    def message_states(self, err: BaseException | None, *words: str):
        """Assert the error message contains every one of ``words`` (nothing to check when nothing was raised)."""
        missing = [w for w in words if err is not None and w not in str(err)]
        if missing:
            self._fail(Failure("message", "message", f"message does not state {' and '.join(map(repr, missing))}: "
                               f"{type(err).__name__}: {err}", error_type=type(err).__name__, message=str(err)))

    def within(self, name: str, value: float, region, power: dict[str, float], detail: str = ""):
        """Assert a statistic lies in its acceptance region; record the false alarm and the power."""
        self.statistics.append({"name": name, "value": _finite(value), "region": [region.lo, region.hi],
                                "false_alarm": region.false_alarm, "power": power})
        if value not in region:
            self._fail(Failure("statistic", name, f"{name} = {value} outside the acceptance region [{region.lo}, "
                               f"{region.hi}] (false-alarm probability {region.false_alarm:.2e}) {detail}"))

    def rate(self, name: str, k: int, n: int, p: float, alternatives: dict[str, float] | None = None, parts: int = 1,
             observe: str | None = None, detail: str | None = None):
        """Exact binomial test of a count: accept K ~ Binomial(n, p) in stats.binomial_region(n, p, FALSE_ALARM /
        parts) (``parts`` statistics in one test keep its false alarm at FALSE_ALARM); record the power against each
        alternative true rate (name -> rate; default stats.shifted(p, 0.01)); ``observe``: record k / n and n as the
        conventions ``<observe>_fraction`` and ``<observe>_trials``."""
        region = stats.binomial_region(n, p, stats.FALSE_ALARM / parts)
        alternatives = stats.shifted(p, 0.01) if alternatives is None else alternatives
        if observe:
            self.observe(f"{observe}_fraction", k / n)
            self.observe(f"{observe}_trials", n)
        self.within(name, k, region, {a: stats.binomial_power(n, region, q) for a, q in alternatives.items()},
                    detail or f"(n = {n}, rate = {p}, observed fraction {k / n:.5f})")

    def variance(self, name: str, z, sigma: float, ratios: dict[str, float], detail: str):
        """Chi-square test of draws z ~ N(0, sigma^2): accept S = sum (z / sigma)^2 in stats.chi2_region(n); record
        the power against each alternative true variance (name -> its ratio to sigma^2)."""
        region = stats.chi2_region(z.size)
        self.within(name, float(np.sum((z / sigma) ** 2)), region,
                    {a: stats.chi2_power(z.size, region, r) for a, r in ratios.items()}, detail)

    def uniform(self, name: str, sample, lo: float, hi: float, alternatives: dict[str, tuple[float, float]],
                detail: str, parts: int = 1):
        """Kolmogorov-Smirnov test of a sample against U[lo, hi]: accept D_n in stats.ks_region(n, FALSE_ALARM /
        parts); record a lower bound of the power against each alternative U[a, b] (name -> (a, b))."""
        n = np.size(sample)
        region = stats.ks_region(n, stats.FALSE_ALARM / parts)
        power = {a: stats.ks_uniform_power(n, region, lo, hi, *ends) for a, ends in alternatives.items()}
        self.within(name, stats.ks_uniform(sample, lo, hi), region, power, detail)

    def observe(self, convention: str, value):
        """Record a convention measured by this check (for the report's conventions table). The key must be
        declared in layerconf/schemas/observed.json; a NaN or infinite measurement (a broken layer) is
        recorded as null, as JSON has no such numbers."""
        observed.require(convention)
        self.observed[convention] = _finite_tree(value)

    def summary(self) -> dict:
        """Worst comparison and every failure: the fields a result record carries."""
        done = [c for c in self.comparisons if c is not None]
        worst = max(done, key=lambda c: c.margin, default=None)
        return {  # the same keys with None when nothing was compared
            "worst_error": None if worst is None else _finite(worst.worst_error),
            "margin": None if worst is None else _finite(worst.margin),
            "tolerance": None if worst is None else {"dtype": worst.dtype, "rtol": worst.rtol, "atol": worst.atol},
            "quantity": None if worst is None else worst.quantity,
            "statistics": self.statistics,
            "observed": self.observed,
            "failures": [f.record() for f in self.failures],
        }


def _value_failure(result, actual, expected, detail: str) -> Failure:
    worst = float(np.max(errors(actual, expected), initial=0.0)) if result.shape_ok else np.inf
    return Failure("value", result.quantity, detail, worst_error=worst, margin=float(result.margin),
                   margins=margins(actual, expected))


def _finite(v: float):
    return float(v) if np.isfinite(v) else None


def _finite_tree(value):
    """``value`` with every non-finite float (in lists and dicts too) replaced by None."""
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, (list, tuple)):
        return [_finite_tree(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite_tree(v) for k, v in value.items()}
    return value


def _excerpt(actual, expected, n: int = 6) -> str:
    a = np.asarray(actual).astype(np.float64).ravel()[:n]
    e = np.asarray(expected, dtype=np.float64).ravel()[:n]
    return (f"\n  expected (first {len(e)}): {np.array2string(e, precision=6)}"
            f"\n  actual   (first {len(a)}): {np.array2string(a, precision=6)}")
