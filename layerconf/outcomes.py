"""The outcome of one check: the one type the plugin, the results, diff, the report, the command line and
the mutation benchmark share.

Severity orders the outcomes from worst to best (a report cell shows its worst check); ``failing``
outcomes make a run exit 1, and a change from a ``fine`` outcome to a failing one is a regression.
"""
from enum import Enum


class Outcome(str, Enum):
    ERROR = "error"                      # the check could not reach a verdict: an exception outside its assertions
    FAILED = "failed"                    # the framework differs from the reference
    DEVIATION_FIXED = "deviation_fixed"  # a declared deviation no longer reproduces
    NOT_RUN = "not_run"                  # the flavour's process ended (crash, time limit) before the check ran
    DEVIATION = "deviation"              # a declared deviation reproduced, within its signature
    PASSED = "passed"
    SKIPPED = "skipped"                  # skipped for another reason than the profile (no flavour selected)
    NOT_APPLICABLE = "not_applicable"    # the flavour cannot express the case (its profile says why)

    def __str__(self) -> str:
        return self.value

    @property
    def failing(self) -> bool:
        """A run with such a check exits 1."""
        return self in (Outcome.ERROR, Outcome.FAILED, Outcome.DEVIATION_FIXED, Outcome.NOT_RUN)

    @property
    def fine(self) -> bool:
        """As expected: passed, or a declared deviation that reproduced."""
        return self in (Outcome.PASSED, Outcome.DEVIATION)

    @property
    def ran(self) -> bool:
        """The check ran to a verdict on the flavour."""
        return self not in (Outcome.NOT_APPLICABLE, Outcome.SKIPPED, Outcome.NOT_RUN)

    @property
    def severity(self) -> int:
        """0 for the worst (error) up to the best; the declaration order above."""
        return list(Outcome).index(self)

    @property
    def short(self) -> str:
        """The word a report cell shows."""
        return SHORT[self]

    @property
    def symbol(self) -> str:
        return SYMBOLS[self]


SHORT = {Outcome.ERROR: "error", Outcome.FAILED: "fail", Outcome.DEVIATION_FIXED: "deviation fixed",
         Outcome.NOT_RUN: "not run", Outcome.DEVIATION: "deviation", Outcome.PASSED: "pass",
         Outcome.SKIPPED: "skipped", Outcome.NOT_APPLICABLE: "n/a"}
SYMBOLS = {Outcome.ERROR: "💥", Outcome.FAILED: "❌", Outcome.DEVIATION_FIXED: "🔔", Outcome.NOT_RUN: "⏹️",
           Outcome.DEVIATION: "⚠️", Outcome.PASSED: "✅", Outcome.SKIPPED: "⏭️", Outcome.NOT_APPLICABLE: "➖"}


def count(records) -> dict[Outcome, int]:
    """Outcome -> number of records, worst outcome first; only outcomes that occur."""
    counts = {}
    for r in records:
        o = Outcome(r["outcome"])
        counts[o] = counts.get(o, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: item[0].severity))


def summary(records) -> str:
    """'193 passed, 73 not applicable, 1 deviation' (worst first) or 'no records'."""
    return ", ".join(f"{n} {o.value.replace('_', ' ')}" for o, n in count(records).items()) or "no records"
