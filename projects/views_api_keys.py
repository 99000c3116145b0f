"""The workspace's API keys page: create (the key is shown once), list, revoke. Admins see and revoke everyone's."""
from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .models import ApiKey, Membership, Workspace

MAX_LIFETIME_DAYS = 270  # RIME's token lifetime


class ApiKeyForm(forms.Form):
    name = forms.CharField(label="Key name", max_length=100)
    lifetime_days = forms.IntegerField(label="Expires after (days)", min_value=1, max_value=MAX_LIFETIME_DAYS,
                                       initial=MAX_LIFETIME_DAYS)


def keys_visible_to(membership: Membership) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.filter(workspace_id=membership.workspace_id).select_related("user")
    return keys if membership.can_manage else keys.filter(user_id=membership.user_id)


def _page(request, workspace: Workspace, membership: Membership, form: ApiKeyForm, new_key: str = ""):
    context = {"workspace": workspace, "membership": membership, "form": form, "new_key": new_key,
               "api_keys": keys_visible_to(membership).order_by("-created_at")}
    return render(request, "projects/api_keys.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request, workspace_id):
    workspace, membership = selectors.get_workspace_for_user(request.user, workspace_id)
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _, raw_key = services.api_key_create(user=request.user, workspace=workspace, name=form.cleaned_data["name"],
                                             lifetime=timedelta(days=form.cleaned_data["lifetime_days"]))
        # Rendered, not redirected: the raw key must not travel through a URL, a session or a message store.
        return _page(request, workspace, membership, ApiKeyForm(), new_key=raw_key)
    return _page(request, workspace, membership, form)


@login_required
@require_POST
def api_key_revoke(request, workspace_id, api_key_id):
    workspace, membership = selectors.get_workspace_for_user(request.user, workspace_id)
    api_key = keys_visible_to(membership).filter(id=api_key_id).first()
    if api_key is None:
        raise Http404("No such API key.")
    if api_key.revoked_at is not None:
        raise PermissionDenied("This key is already revoked.")
    services.api_key_revoke(user=request.user, api_key=api_key)
    messages.success(request, f"API key “{api_key.name}” (…{api_key.suffix}) was revoked.")
    return redirect("projects:api_keys", workspace_id=workspace.id)
