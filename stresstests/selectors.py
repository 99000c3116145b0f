from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from projects.selectors import check_role, membership_for

from .models import RunStatus, StressTestRun


def runs_of(project) -> QuerySet[StressTestRun]:
    return (
        project.runs.exclude(status=RunStatus.DRAFT)
        .select_related("model", "reference_dataset", "evaluation_dataset", "created_by")
        .order_by("-created_at")
    )


def get_run_for_user(user, run_id, *, write: bool = False):
    run = StressTestRun.objects.select_related("project__workspace").filter(id=run_id).first()
    if run is None:
        raise Http404("No such stress test.")
    membership = membership_for(user, run.project.workspace_id)
    check_role(membership, write=write)
    return run, membership


def drafts_of(project) -> QuerySet[StressTestRun]:
    """Unfinished wizards, so that a later visit can pick one up again."""
    return (project.runs.filter(status=RunStatus.DRAFT).select_related("created_by", "model")
            .order_by("-created_at")[:20])


def report_summary(report: dict) -> dict:
    """The compact run summary (severity counts, categories with severity) read from an engine report."""
    run = report.get("run") or {}
    categories = [
        {"name": c.get("name"), "severity": c.get("severity"), "passed": c.get("passed"), "total": c.get("total"),
         "risk_group": c.get("risk_group")}
        for c in report.get("categories") or []
    ]
    return {"counts": run.get("severity_counts") or {}, "categories": categories,
            "model_metrics": run.get("model_metrics") or {}}
