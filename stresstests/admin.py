from __future__ import annotations

from django.contrib import admin

from projects.admin import AuditedModelAdmin

from .models import StressTestReport, StressTestRun


@admin.register(StressTestRun)
class StressTestRunAdmin(AuditedModelAdmin):
    list_display = ["name", "project", "status", "progress", "created_by", "created_at", "finished_at"]
    list_filter = ["status", "project__workspace"]
    search_fields = ["name", "id", "job_id", "project__name"]
    readonly_fields = ["id", "job_id", "created_at", "started_at", "finished_at", "heartbeat_at", "worker"]
    list_select_related = ["project", "created_by"]


@admin.register(StressTestReport)
class StressTestReportAdmin(admin.ModelAdmin):
    list_display = ["run", "schema_version", "created_at"]
    readonly_fields = ["run", "schema_version", "data", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False
