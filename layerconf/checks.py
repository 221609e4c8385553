"""The `check` object a conformance test asserts through.

Each assertion is recorded (quantity, worst error, tolerance, margin; or the statistic, its acceptance
region, false-alarm probability and power), and a failure raises CheckFailure whose message states the
check id, the framework, the behaviour's formula, and expected versus actual.
"""
import numpy as np

from layerconf.compare import compare


class CheckFailure(AssertionError):
    """A behaviour differs from the reference."""


class Check:
    def __init__(self, check_id: str, framework: str, version: str, formula: str):
        self.check_id, self.framework, self.version, self.formula = check_id, framework, version, formula
        self.comparisons = []   # layerconf.compare.Comparison
        self.statistics = []    # dicts: name, value, region, false_alarm, power
        self.observed = {}      # convention name -> value measured in this check

    def _fail(self, detail: str):
        raise CheckFailure(
            f"{self.check_id} on {self.framework} {self.version}\n  formula: {self.formula}\n  {detail}"
        )

    def close(self, quantity: str, actual, expected, dtype: str | None = None):
        """Assert actual matches the reference within the tolerance of its dtype."""
        result = compare(quantity, actual, expected, dtype)
        self.comparisons.append(result)
        if not result.passed:
            self._fail(result.describe() + _excerpt(actual, expected))

    def equal(self, quantity: str, actual, expected):
        """Assert bit-for-bit equality (same shape, same values, NaN where NaN)."""
        a, e = np.asarray(actual), np.asarray(expected)
        same = a.shape == e.shape and np.array_equal(a, e, equal_nan=True)
        self.comparisons.append(compare(quantity, a, e, "float64") if a.shape == e.shape else None)
        if not same:
            self._fail(f"{quantity}: expected bit-for-bit equality" + _excerpt(a, e))

    def true(self, quantity: str, condition: bool, detail: str):
        """Assert a property that is not a numeric comparison; ``detail`` says what was seen."""
        if not condition:
            self._fail(f"{quantity}: {detail}")

    def within(self, name: str, value: float, region, power: dict[str, float], detail: str = ""):
        """Assert a statistic lies in its acceptance region; record the false alarm and the power."""
        self.statistics.append({"name": name, "value": _finite(value), "region": [region.lo, region.hi],
                                "false_alarm": region.false_alarm, "power": power})
        if value not in region:
            self._fail(f"{name} = {value} outside the acceptance region [{region.lo}, {region.hi}] "
                       f"(false-alarm probability {region.false_alarm:.2e}) {detail}")

    def observe(self, convention: str, value):
        """Record a convention measured by this check (for the report's conventions table); a NaN or
        infinite measurement (a broken layer) is recorded as null, as JSON has no such numbers."""
        self.observed[convention] = _finite_tree(value)

    def summary(self) -> dict:
        """Worst comparison: the fields a result record carries."""
        done = [c for c in self.comparisons if c is not None]
        worst = max(done, key=lambda c: c.margin, default=None)
        return {  # the same keys with None when nothing was compared
            "worst_error": None if worst is None else _finite(worst.worst_error),
            "margin": None if worst is None else _finite(worst.margin),
            "tolerance": None if worst is None else {"dtype": worst.dtype, "rtol": worst.rtol, "atol": worst.atol},
            "quantity": None if worst is None else worst.quantity,
            "statistics": self.statistics,
            "observed": self.observed,
        }


def _finite(v: float):
    return float(v) if np.isfinite(v) else None


def _finite_tree(value):
    """``value`` with every non-finite float (in lists too) replaced by None."""
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, (list, tuple)):
        return [_finite_tree(v) for v in value]
    return value


def _excerpt(actual, expected, n: int = 6) -> str:
    a = np.asarray(actual).astype(np.float64).ravel()[:n]
    e = np.asarray(expected, dtype=np.float64).ravel()[:n]
    return f"\n  expected (first {len(e)}): {np.array2string(e, precision=6)}\n  actual   (first {len(a)}): {np.array2string(a, precision=6)}"


Check.NOTHING = Check("", "", "", "")
