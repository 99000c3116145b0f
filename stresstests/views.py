from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from projects.selectors import get_project_for_user

from . import selectors


@login_required
@require_GET
def run_list(request, project_id):
    project, membership = get_project_for_user(request.user, project_id)
    context = {
        "project": project,
        "workspace": project.workspace,
        "membership": membership,
        "nav": "stress",
        "runs": selectors.runs_of(project),
    }
    return render(request, "stresstests/run_list.html", context)


@login_required
@require_GET
def run_detail(request, run_id):
    run, membership = selectors.get_run_for_user(request.user, run_id)
    context = {"run": run, "project": run.project, "workspace": run.project.workspace, "membership": membership, "nav": "stress"}
    return render(request, "stresstests/run_detail.html", context)
