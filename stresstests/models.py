"""Stress-test runs: a draft from the wizard, then a Celery job, then a report."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from projects.models import Dataset, Predictions, Project, RegisteredModel


class RunStatus(models.TextChoices):
    DRAFT = "DRAFT", "Draft"
    # RIME's job states.
    REQUESTED = "JOB_STATUS_REQUESTED", "Queued"
    PENDING = "JOB_STATUS_PENDING", "Pending"
    RUNNING = "JOB_STATUS_RUNNING", "Running"
    SUCCEEDED = "JOB_STATUS_SUCCEEDED", "Succeeded"
    FAILED = "JOB_STATUS_FAILED", "Failed"
    CANCELLED = "JOB_STATUS_CANCELLED", "Cancelled"


ACTIVE_STATUSES = (RunStatus.REQUESTED, RunStatus.PENDING, RunStatus.RUNNING)
FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class ConfigMode(models.TextChoices):
    PROJECT = "project", "From Project Configuration"
    CUSTOM = "custom", "Custom"


class StressTestRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The job id the SDK polls is separate from the test-run id it reads results with, as in RIME.
    job_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=32, choices=RunStatus.choices, default=RunStatus.DRAFT, db_index=True)
    config_mode = models.CharField(max_length=10, choices=ConfigMode.choices, default=ConfigMode.PROJECT)
    # RIME's test_run_config as sent or as built by the wizard (categories, test_suite_config, run_time_info ...).
    config = models.JSONField(default=dict, blank=True)
    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, null=True, blank=True, related_name="runs")
    reference_dataset = models.ForeignKey(
        Dataset, on_delete=models.PROTECT, null=True, blank=True, related_name="reference_runs"
    )
    evaluation_dataset = models.ForeignKey(
        Dataset, on_delete=models.PROTECT, null=True, blank=True, related_name="evaluation_runs"
    )
    reference_predictions = models.ForeignKey(
        Predictions, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    evaluation_predictions = models.ForeignKey(
        Predictions, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    wizard_step = models.CharField(max_length=32, blank=True)
    progress = models.FloatField(default=0.0)
    current_test = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the run's message was last sent to the broker; recovery.requeue_lost_runs re-sends lost ones.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Severity counts of the finished run, for lists that should not load whole reports.
    summary = models.JSONField(default=dict, blank=True)
    # What the wizard found while the draft was built (the model check run on a worker: status, message, for which
    # model and reference dataset); see stresstests/wizard_checks.py.
    checks = models.JSONField(default=dict, blank=True)
    rerun_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reruns")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name or f"Stress test {self.id}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def can_cancel(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def can_submit(self) -> bool:
        return (
            self.status == RunStatus.DRAFT
            and self.reference_dataset_id is not None
            and self.evaluation_dataset_id is not None
        )

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class StressTestReport(models.Model):
    """The engine's versioned JSON report of a finished run, kept apart so lists never load it."""

    run = models.OneToOneField(StressTestRun, on_delete=models.CASCADE, primary_key=True, related_name="report")
    schema_version = models.PositiveIntegerField(default=1)
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"Report of {self.run}"
