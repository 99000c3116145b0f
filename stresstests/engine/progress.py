"""How far a run is and how long it still needs: the fraction and the message given to the progress callback.

Method. A run has three parts: setup (checking and sampling the data, profiling the reference, scoring both sets with
the model), the tests, and writing the report. Setup and the report get small fixed shares of the bar (they happen
before anything can be estimated, and after everything is known). The tests share the rest by *estimated time*, not by
count: tests that call the model cost far more than tests that only read the data, so counting tests made the bar sit
still through the model tests and race through the rest.

The estimate of a test not yet run is the mean duration of the finished tests of its kind (calls the model, or reads
the data only). Before any test of a kind finished, a model test is assumed to cost what scoring the evaluation set
cost during setup (each one scores at least one perturbed copy of the rows), and a data test the mean of whatever
finished. Time left is shown only when every remaining test has an estimate (in practice from the second test on),
and the fraction never goes backwards, so a slow test that raises the estimate holds the bar instead of moving it
back.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

SETUP_SHARE = 0.05      # checking, profiling and scoring before the first test
REPORT_SHARE = 0.03     # building the report after the last test
KIND_MODEL = "model"
KIND_DATA = "data"

ProgressCallback = Callable[[float, str], None]
LogCallback = Callable[[str], None]


def time_left_text(seconds: float | None) -> str:
    """"about 3 min left", "about 40 s left", "a few seconds left"; "" when there is no estimate yet."""
    if seconds is None:
        return ""
    if seconds < 10:
        return "a few seconds left"
    if seconds < 90:
        return f"about {round(seconds / 10) * 10:.0f} s left"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60):.0f} min left"
    return f"about {seconds / 3600:.1f} h left"


@dataclass
class PlannedTest:
    name: str
    category: str
    kind: str


@dataclass
class RunProgress:
    """Feeds the engine's progress callback (fraction, message) and its step log (one line per step)."""

    notify: ProgressCallback
    log: LogCallback | None = None
    clock: Callable[[], float] = time.perf_counter
    planned: list[PlannedTest] = field(default_factory=list)
    durations: dict[str, list[float]] = field(default_factory=dict)
    scoring_seconds: float | None = None
    fraction: float = 0.0
    _test_started: float | None = None

    # -- setup and the end
    def step(self, message: str, fraction: float | None = None) -> None:
        """A setup or closing step, e.g. "Profiling the reference data"."""
        self._report(fraction if fraction is not None else self.fraction, message)

    def scored(self, seconds: float) -> None:
        """How long scoring the evaluation set took in setup: the first guess for a model test."""
        self.scoring_seconds = seconds

    # -- the tests
    def plan(self, tests: list[PlannedTest]) -> None:
        self.planned = list(tests)
        self._report(SETUP_SHARE, f"Running {len(tests)} tests")

    def test_started(self, position: int) -> None:
        test = self.planned[position]
        self._test_started = self.clock()
        left = time_left_text(self.seconds_left(position))
        where = f"{test.category}: {test.name} (test {position + 1} of {len(self.planned)})"
        self._report(self._tests_fraction(position), where, suffix=left)

    def test_finished(self, position: int, outcome: str) -> None:
        test = self.planned[position]
        now = self.clock()
        spent = now - (now if self._test_started is None else self._test_started)
        self.durations.setdefault(test.kind, []).append(spent)
        self._log(f"{test.category}: {test.name}: {outcome} ({spent:.1f} s)")

    def writing_report(self) -> None:
        self._report(1.0 - REPORT_SHARE, "Writing the report")

    # -- estimates
    def expected_seconds(self, kind: str) -> float | None:
        done = self.durations.get(kind)
        if done:
            return sum(done) / len(done)
        if kind == KIND_MODEL and self.scoring_seconds is not None:
            return self.scoring_seconds
        every = [seconds for values in self.durations.values() for seconds in values]
        return sum(every) / len(every) if every else None

    def seconds_left(self, position: int) -> float | None:
        """Estimated time of the tests from `position` on (the one starting included); None while unknown."""
        estimates = [self.expected_seconds(test.kind) for test in self.planned[position:]]
        if any(estimate is None for estimate in estimates):
            return None
        return float(sum(estimates))

    def _tests_fraction(self, position: int) -> float:
        """Share of the tests' estimated time already spent; by count while nothing can be estimated."""
        spent = sum(sum(values) for values in self.durations.values())
        left = self.seconds_left(position)
        if left is None or spent + left <= 0:
            share = position / max(len(self.planned), 1)
        else:
            share = spent / (spent + left)
        return SETUP_SHARE + (1.0 - SETUP_SHARE - REPORT_SHARE) * share

    def _report(self, fraction: float, message: str, suffix: str = "") -> None:
        self.fraction = max(self.fraction, min(fraction, 1.0))
        self._log(message)
        self.notify(self.fraction, f"{message} · {suffix}" if suffix else message)

    def _log(self, line: str) -> None:
        if self.log is not None:
            self.log(line)
