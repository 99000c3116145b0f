from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors, services
from .forms import MemberAddForm, MemberRoleForm, ProjectForm, ProjectSettingsForm, WorkspaceForm
from .models import TestSensitivity


def _add_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


@require_GET
def home(request):
    return redirect("projects:workspace_list" if request.user.is_authenticated else "login")


@login_required
@require_http_methods(["GET", "POST"])
def workspace_list(request):
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.workspace_create(user=request.user, **form.cleaned_data)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return redirect("projects:workspace_detail", workspace_id=workspace.id)
    workspaces = selectors.workspaces_for_user(request.user)
    return render(request, "projects/workspace_list.html", {"workspaces": workspaces, "form": form})


@login_required
@require_GET
def workspace_detail(request, workspace_id):
    workspace, membership = selectors.get_workspace_for_user(request.user, workspace_id)
    context = {
        "workspace": workspace,
        "membership": membership,
        "projects": selectors.projects_in_workspace(workspace),
        "form": ProjectForm(),
    }
    return render(request, "projects/workspace_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request, workspace_id):
    workspace, membership = selectors.get_workspace_for_user(request.user, workspace_id, write=True)
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(user=request.user, workspace=workspace, **form.cleaned_data)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return redirect("projects:project_detail", project_id=project.id)
    context = {"workspace": workspace, "membership": membership, "form": form}
    return render(request, "projects/project_create.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def members(request, workspace_id):
    manage = request.method == "POST"
    workspace, membership = selectors.get_workspace_for_user(request.user, workspace_id, manage=manage)
    form = MemberAddForm(request.POST or None)
    if manage and form.is_valid():
        try:
            services.member_add(actor=request.user, workspace=workspace, **form.cleaned_data)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"{form.cleaned_data['username']} was added.")
            return redirect("projects:members", workspace_id=workspace.id)
    context = {
        "workspace": workspace,
        "membership": membership,
        "members": selectors.members_of(workspace),
        "form": form,
        "role_form": MemberRoleForm(),
    }
    return render(request, "projects/members.html", context)


def _member_of_workspace(workspace, membership_id):
    member = workspace.memberships.select_related("user", "workspace").filter(id=membership_id).first()
    if member is None:
        raise Http404("No such member.")
    return member


@login_required
@require_POST
def member_change_role(request, workspace_id, membership_id):
    workspace, _ = selectors.get_workspace_for_user(request.user, workspace_id, manage=True)
    member = _member_of_workspace(workspace, membership_id)
    form = MemberRoleForm(request.POST)
    if form.is_valid():
        try:
            services.member_change_role(actor=request.user, membership=member, role=form.cleaned_data["role"])
            messages.success(request, f"{member.user.username} is now {member.get_role_display().lower()}.")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    return redirect("projects:members", workspace_id=workspace.id)


@login_required
@require_POST
def member_remove(request, workspace_id, membership_id):
    workspace, _ = selectors.get_workspace_for_user(request.user, workspace_id, manage=True)
    member = _member_of_workspace(workspace, membership_id)
    try:
        services.member_remove(actor=request.user, membership=member)
        messages.success(request, f"{member.user.username} was removed.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("projects:members", workspace_id=workspace.id)


def _project_page(request, project, membership, template: str, *, nav: str, **context):
    context.update({"project": project, "workspace": project.workspace, "membership": membership, "nav": nav})
    return render(request, template, context)


@login_required
@require_GET
def project_detail(request, project_id):
    project, membership = selectors.get_project_for_user(request.user, project_id)
    recent_runs = project.runs.exclude(status="DRAFT").order_by("-created_at")[:5]
    return _project_page(
        request,
        project,
        membership,
        "projects/project_detail.html",
        nav="overview",
        recent_runs=recent_runs,
        model_count=project.models.count(),
        dataset_count=project.datasets.count(),
    )


def _settings_initial(project) -> dict:
    config = project.test_suite_config or {}
    return {
        "categories": project.stress_test_categories,
        "global_test_sensitivity": config.get("global_test_sensitivity", TestSensitivity.DEFAULT),
        "protected_features": ", ".join(config.get("protected_features", [])),
        "global_exclude_columns": ", ".join(config.get("global_exclude_columns", [])),
        "individual_tests_config": config.get("individual_tests_config", {}),
    }


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request, project_id):
    project, membership = selectors.get_project_for_user(request.user, project_id, write=request.method == "POST")
    form = ProjectSettingsForm(request.POST or None, initial=_settings_initial(project),
                               text_project=selectors.project_has_text_data(project))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        test_suite_config = {
            "global_test_sensitivity": data["global_test_sensitivity"],
            "protected_features": form.split_names(data["protected_features"]),
            "global_exclude_columns": form.split_names(data["global_exclude_columns"]),
            "individual_tests_config": data["individual_tests_config"] or {},
        }
        services.project_update_settings(
            user=request.user, project=project, categories=data["categories"], test_suite_config=test_suite_config
        )
        messages.success(request, "Project configuration saved.")
        return redirect("projects:project_settings", project_id=project.id)
    return _project_page(request, project, membership, "projects/project_settings.html", nav="settings", form=form)
