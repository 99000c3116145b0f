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
