"""Fixtures of the results tests: engine reports (tests/results/reports.py) stored as finished runs."""
from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from tests.results.reports import synthetic_report


@pytest.fixture(scope="session")
def all_categories_report() -> dict:
    return synthetic_report()


@pytest.fixture(scope="session")
def drift_only_report() -> dict:
    return synthetic_report(categories=["drift"])


@pytest.fixture(scope="session")
def calmer_report() -> dict:
    """The same model on evaluation data that barely drifted (an earlier, calmer week to compare with)."""
    return synthetic_report(amount_shift=5.0)


@pytest.fixture
def finished_run(project, owner):
    """Stores `report` as the result of a succeeded run of `project`, as the worker does."""
    from django.utils import timezone

    from stresstests.models import RunStatus, StressTestReport, StressTestRun

    def make(report: dict, *, name: str = "Nightly fraud check", age_minutes: int = 0) -> StressTestRun:
        finished = timezone.now() - timedelta(minutes=age_minutes)
        run = StressTestRun.objects.create(
            project=project, name=name, status=RunStatus.SUCCEEDED, created_by=owner, progress=1.0,
            created_at=finished - timedelta(seconds=5), started_at=finished - timedelta(seconds=4),
            finished_at=finished, summary=report["run"]["severity_counts"])
        StressTestReport.objects.create(run=run, data=copy.deepcopy(report),
                                        schema_version=report["schema_version"])
        return run

    return make


# The browser test of the result pages lives here with the other results tests; it signs in like tests/e2e do.
from tests.e2e.conftest import sign_in  # noqa: E402,F401
