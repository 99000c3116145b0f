"""Progress of a run (issue 14, item 7): per test, by estimated time rather than by count, with the time left, and a
log line for every step of the run."""
from __future__ import annotations

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.progress import KIND_DATA, KIND_MODEL, PlannedTest, RunProgress, time_left_text
from stresstests.engine.runner import run_stress_test


class FakeClock:
    """Time that moves only when the test says so: estimates are checked without waiting or timing anything."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _tracker(kinds: list[str]) -> tuple[RunProgress, FakeClock, list[tuple[float, str]], list[str]]:
    clock, calls, lines = FakeClock(), [], []
    tracker = RunProgress(lambda fraction, message: calls.append((fraction, message)), lines.append, clock)
    tracker.plan([PlannedTest(f"Test {i}", "Drift", kind) for i, kind in enumerate(kinds)])
    return tracker, clock, calls, lines


def _run(tracker: RunProgress, clock: FakeClock, position: int, seconds: float) -> None:
    tracker.test_started(position)
    clock.now += seconds
    tracker.test_finished(position, "Pass")


def test_cheap_data_tests_do_not_race_the_bar_ahead_of_slow_model_tests():
    """The reported defect: eight quick data tests then two slow model tests showed 0 % ... 80 % ... done, with the
    wait at the end. Scoring the evaluation set took 10 s in setup, so each model test is expected to cost about that."""
    tracker, clock, calls, _ = _tracker([KIND_DATA] * 8 + [KIND_MODEL] * 2)
    tracker.scored(10.0)
    for position in range(8):
        _run(tracker, clock, position, 0.1)
    tracker.test_started(8)
    fraction, message = calls[-1]
    assert fraction < 0.1, "0.8 s spent of about 20.8 s: the bar is near its start, not at 80 %"
    assert message == "Drift: Test 8 (test 9 of 10) · about 20 s left"


def test_the_estimate_learns_from_finished_tests_and_never_moves_back():
    tracker, clock, calls, _ = _tracker([KIND_MODEL] * 4)
    tracker.scored(1.0)
    _run(tracker, clock, 0, 30.0)   # much slower than scoring suggested
    tracker.test_started(1)
    assert calls[-1][1].endswith("about 2 min left")          # 3 tests of 30 s each
    assert tracker.seconds_left(1) == 90.0
    fractions = [fraction for fraction, _ in calls]
    assert fractions == sorted(fractions)
    assert 0.25 < fractions[-1] < 0.35                      # a quarter of the estimated time, inside the tests' share


def test_no_time_left_is_claimed_before_anything_can_be_estimated():
    tracker, _, calls, _ = _tracker([KIND_DATA, KIND_MODEL])
    tracker.test_started(0)
    assert calls[-1][1] == "Drift: Test 0 (test 1 of 2)"


def test_time_left_reads_as_words():
    assert time_left_text(None) == ""
    assert time_left_text(3) == "a few seconds left"
    assert time_left_text(44) == "about 40 s left"
    assert time_left_text(600) == "about 10 min left"
    assert time_left_text(3 * 3600) == "about 3.0 h left"


class Model:
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return 1 / (1 + np.exp(-(frame["x"].to_numpy(dtype=float) - 0.5) * 4))


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.random(400), "city": rng.choice(["a", "b", "c"], 400)})
    frame["label"] = (rng.random(400) < Model().predict(frame)).astype(int)
    return frame


def test_a_run_reports_every_step_and_test_and_logs_them():
    calls: list[tuple[float, str]] = []
    lines: list[str] = []
    run_stress_test(reference=_frame(1), evaluation=_frame(2),
                    config=RunConfig(categories=["model_performance", "drift"], random_seed=0),
                    data_params=DataParams(label_col="label"), model_task=MODEL_TASK_BINARY_CLASSIFICATION,
                    model=Model(), progress=lambda fraction, message: calls.append((fraction, message)),
                    log=lines.append)
    fractions = [fraction for fraction, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert lines[:3] == ["Checking and sampling the data", "Profiling the reference data (400 rows, 2 features)",
                         "Scoring 800 rows with the model"]
    tests = [line for line in lines if " (test " in line]
    total = int(tests[0].rsplit(" of ", 1)[1].rstrip(")"))
    assert len(tests) == total > 5
    assert any(line.startswith("Drift: Feature Drift (test ") for line in tests)
    assert any(line.startswith("Model Performance: AUC: ") and line.endswith(" s)") for line in lines)
    assert lines[-2:] == ["Writing the report", "Done"]
    # After the first test, every test's message says how long the rest should take.
    assert all(" left" in message for _, message in calls if " (test " in message and "(test 1 of" not in message)
