from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from . import services
from .models import (
    ApiKey,
    AuditEvent,
    Dataset,
    Integration,
    Membership,
    Predictions,
    Project,
    RegisteredModel,
    Workspace,
)
from .selectors import live_worker_queues


class AuditedModelAdmin(admin.ModelAdmin):
    """Admin changes also land in the product's audit log, with the workspace when the object has one."""

    def _audit(self, request, obj, action: str) -> None:
        workspace = obj if isinstance(obj, Workspace) else getattr(obj, "workspace", None)
        if workspace is None and hasattr(obj, "project"):
            workspace = obj.project.workspace
        services.audit(actor=request.user, action=f"admin.{action}", obj=obj, workspace=workspace)

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "add")
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(request, obj, "change")
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "delete")
        return super().log_deletions(request, queryset)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["id", "created_at"]


@admin.register(Workspace)
class WorkspaceAdmin(AuditedModelAdmin):
    list_display = ["name", "id", "celery_queue", "created_at"]
    search_fields = ["name", "id"]
    readonly_fields = ["id", "created_at"]
    inlines = [MembershipInline]

    # A workspace pinned to a queue no live worker consumes: its runs would wait forever (stresstests/presence.py).
    @staticmethod
    def _warn_if_unserved(request, workspace) -> None:
        queue = workspace.celery_queue if workspace is not None else ""
        if queue and queue not in live_worker_queues():
            messages.warning(request, f"No live worker consumes the queue “{queue}”: this workspace's stress tests "
                             f"wait until a worker started with -Q {queue} runs (docs/deploy.md).")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            self._warn_if_unserved(request, self.get_object(request, object_id))
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self._warn_if_unserved(request, obj)


@admin.register(Membership)
class MembershipAdmin(AuditedModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__username", "workspace__name"]
    readonly_fields = ["id", "created_at"]
    autocomplete_fields = ["user", "workspace"]


@admin.register(Project)
class ProjectAdmin(AuditedModelAdmin):
    list_display = ["name", "workspace", "model_task", "created_by", "created_at"]
    list_filter = ["model_task", "workspace"]
    search_fields = ["name", "id", "description"]
    readonly_fields = ["id", "created_at", "updated_at"]
    list_select_related = ["workspace", "created_by"]


class WriteOnlyTextarea(forms.Textarea):
    """Never renders a value back, not even what was just typed into a form that failed validation."""

    def format_value(self, value):
        return ""


class IntegrationAdminForm(forms.ModelForm):
    """Secrets are write-only: the form never shows stored values; a non-empty field replaces them all."""

    new_secrets = forms.JSONField(
        required=False,
        help_text='Write-only. A JSON object such as {"AWS_SECRET_ACCESS_KEY": "..."} replaces the stored secrets.',
        widget=WriteOnlyTextarea(attrs={"rows": 3}),
    )

    class Meta:
        model = Integration
        fields = ["workspace", "name", "integration_type", "config"]

    def save(self, commit=True):
        integration = super().save(commit=False)
        if self.cleaned_data.get("new_secrets"):
            integration.set_secrets({k: str(v) for k, v in self.cleaned_data["new_secrets"].items()})
        if commit:
            integration.save()
        return integration


@admin.register(Integration)
class IntegrationAdmin(AuditedModelAdmin):
    form = IntegrationAdminForm
    list_display = ["name", "workspace", "integration_type", "secret_names_display", "created_at"]
    list_filter = ["integration_type", "workspace"]
    search_fields = ["name", "id"]
    readonly_fields = ["id", "secret_names_display", "created_at", "updated_at"]

    @admin.display(description="Secrets stored")
    def secret_names_display(self, obj: Integration) -> str:
        names = obj.secret_names if obj.pk else []
        return ", ".join(names) or "none"


@admin.register(RegisteredModel)
class RegisteredModelAdmin(AuditedModelAdmin):
    list_display = ["name", "project", "source", "validity_status", "created_by", "created_at"]
    list_filter = ["validity_status", "source"]
    search_fields = ["name", "id", "project__name"]
    readonly_fields = ["id", "created_at"]
    list_select_related = ["project", "created_by"]


@admin.register(Dataset)
class DatasetAdmin(AuditedModelAdmin):
    list_display = ["name", "project", "source", "row_count", "validity_status", "created_at"]
    list_filter = ["validity_status", "source"]
    search_fields = ["name", "id", "project__name"]
    readonly_fields = ["id", "created_at", "schema", "row_count", "size_bytes"]
    list_select_related = ["project"]


@admin.register(Predictions)
class PredictionsAdmin(AuditedModelAdmin):
    list_display = ["model", "dataset", "source", "validity_status", "created_at"]
    list_filter = ["validity_status"]
    search_fields = ["model__name", "dataset__name", "id"]
    readonly_fields = ["id", "created_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedModelAdmin):
    list_display = ["name", "user", "workspace", "suffix", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["workspace"]
    search_fields = ["name", "user__username"]
    readonly_fields = ["id", "key_hash", "suffix", "created_at", "last_used_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        # Keys are created where they can be shown once: the UI or `manage.py create_api_key`.
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(user=request.user, api_key=api_key)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_repr", "workspace"]
    list_filter = ["action", "object_type", "workspace"]
    search_fields = ["action", "object_repr", "actor__username", "object_id"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
