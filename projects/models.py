"""Workspaces, members, projects and the registries (integrations, models, datasets, predictions, API keys, audit)."""
from __future__ import annotations

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from . import crypto


class ModelTask(models.TextChoices):
    BINARY_CLASSIFICATION = "MODEL_TASK_BINARY_CLASSIFICATION", "Binary Classification"
    MULTICLASS_CLASSIFICATION = "MODEL_TASK_MULTICLASS_CLASSIFICATION", "Multiclass Classification"
    REGRESSION = "MODEL_TASK_REGRESSION", "Regression"
    RANKING = "MODEL_TASK_RANKING", "Ranking (learning to rank)"
    # A text pair (premise, hypothesis) classified as entailment / neutral / contradiction; text classification is
    # binary or multiclass classification with text features (the datasets' data_params.text_features).
    NATURAL_LANGUAGE_INFERENCE = "MODEL_TASK_NATURAL_LANGUAGE_INFERENCE", "Natural Language Inference (text pairs)"


class TestCategory(models.TextChoices):
    MODEL_PERFORMANCE = "TEST_CATEGORY_TYPE_MODEL_PERFORMANCE", "Model Performance"
    SUBSET_PERFORMANCE = "TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE", "Subset Performance"
    SUBSET_PERFORMANCE_DEGRADATION = "TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION", "Subset Performance Degradation"
    TRANSFORMATIONS = "TEST_CATEGORY_TYPE_TRANSFORMATIONS", "Transformations"
    DRIFT = "TEST_CATEGORY_TYPE_DRIFT", "Drift"
    ABNORMAL_INPUTS = "TEST_CATEGORY_TYPE_ABNORMAL_INPUTS", "Abnormal Inputs"
    DATA_CLEANLINESS = "TEST_CATEGORY_TYPE_DATA_CLEANLINESS", "Data Cleanliness"
    ADVERSARIAL = "TEST_CATEGORY_TYPE_ADVERSARIAL", "Adversarial"
    BIAS_AND_FAIRNESS = "TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS", "Bias and Fairness"
    DATA_POISONING_DETECTION = "TEST_CATEGORY_TYPE_DATA_POISONING_DETECTION", "Data Poisoning Detection"
    EVASION_ATTACK_DETECTION = "TEST_CATEGORY_TYPE_EVASION_ATTACK_DETECTION", "Evasion Attack Detection"


# A new project's test configuration: every category that applies to a reference and an evaluation set as given.
# Drift is in it because a change between the two sets is most often the story (RIME's own default left it out).
# Bias and Fairness is not: it needs protected features, which the wizard asks for when a run chooses it.
DEFAULT_STRESS_TEST_CATEGORIES = [
    TestCategory.MODEL_PERFORMANCE,
    TestCategory.SUBSET_PERFORMANCE,
    TestCategory.SUBSET_PERFORMANCE_DEGRADATION,
    TestCategory.TRANSFORMATIONS,
    TestCategory.DRIFT,
    TestCategory.ABNORMAL_INPUTS,
    TestCategory.DATA_CLEANLINESS,
    TestCategory.ADVERSARIAL,
]

RISK_GROUPS = {
    "Operational Risk": [
        TestCategory.MODEL_PERFORMANCE,
        TestCategory.SUBSET_PERFORMANCE,
        TestCategory.SUBSET_PERFORMANCE_DEGRADATION,
        TestCategory.TRANSFORMATIONS,
        TestCategory.DRIFT,
        TestCategory.ABNORMAL_INPUTS,
        TestCategory.DATA_CLEANLINESS,
    ],
    "Security Risk": [TestCategory.ADVERSARIAL, TestCategory.DATA_POISONING_DETECTION,
                      TestCategory.EVASION_ATTACK_DETECTION],
    "Fairness Risk": [TestCategory.BIAS_AND_FAIRNESS],
}


class TestSensitivity(models.TextChoices):
    LESS = "TEST_SENSITIVITY_LESS_SENSITIVE", "Less sensitive"
    DEFAULT = "TEST_SENSITIVITY_DEFAULT", "Default"
    MORE = "TEST_SENSITIVITY_MORE_SENSITIVE", "More sensitive"


class ValidityStatus(models.TextChoices):
    PENDING = "VALIDITY_STATUS_PENDING", "Pending"
    VALID = "VALIDITY_STATUS_VALID", "Valid"
    INVALID = "VALIDITY_STATUS_INVALID", "Invalid"


def default_categories() -> list[str]:
    return [str(category) for category in DEFAULT_STRESS_TEST_CATEGORIES]


class WorkerPresence(models.Model):
    """A Celery worker that is alive and the queues it consumes; each worker refreshes its row every few seconds
    (stresstests/presence.py), so a queued run can say when no live worker serves its queue."""
    name = models.CharField(max_length=255, primary_key=True)  # the worker's node name, e.g. celery@host
    queues = models.JSONField(default=list)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.name


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # A workspace can be pinned to its own Celery queue: what RIME calls an agent, running next to the data.
    celery_queue = models.CharField(max_length=100, blank=True, help_text="Empty: the shared stress-test queue.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="one_membership_per_user")]
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in (Role.ADMIN, Role.EDITOR)

    @property
    def can_manage(self) -> bool:
        return self.role == Role.ADMIN


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    model_task = models.CharField(max_length=64, choices=ModelTask.choices, default=ModelTask.BINARY_CLASSIFICATION)
    stress_test_categories = models.JSONField(default=default_categories)
    # RIME's project test configuration: {"global_test_sensitivity", "individual_tests_config",
    # "global_exclude_columns", "protected_features", ...}; read through stresstests' typed config.
    test_suite_config = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="project_name_unique_in_workspace")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class IntegrationType(models.TextChoices):
    S3 = "INTEGRATION_TYPE_AWS_ACCESS_KEY", "AWS S3 / S3-compatible"
    SQL = "INTEGRATION_TYPE_SQL", "SQL database"
    HUGGINGFACE = "INTEGRATION_TYPE_HUGGINGFACE", "Hugging Face"
    MLFLOW = "INTEGRATION_TYPE_MLFLOW", "MLflow"
    CUSTOM = "INTEGRATION_TYPE_CUSTOM", "Custom"


class Integration(models.Model):
    """A workspace-scoped connection or credential. Plain settings are readable; secrets are encrypted and write-only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="integrations")
    name = models.CharField(max_length=100)
    integration_type = models.CharField(max_length=64, choices=IntegrationType.choices)
    config = models.JSONField(default=dict, blank=True, help_text="Plain, non-secret settings.")
    encrypted_secrets = models.TextField(blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="integration_name_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_secrets(self, values: dict[str, str]) -> None:
        self.encrypted_secrets = crypto.encrypt_json(values)

    def get_secrets(self) -> dict[str, str]:
        return crypto.decrypt_json(self.encrypted_secrets)

    @property
    def secret_names(self) -> list[str]:
        return sorted(self.get_secrets())


class ModelSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded files"
    PATH = "path", "Path or URI (with an integration)"
    HUGGING_FACE = "hugging_face", "Hugging Face"
    NONE = "none", "None (predictions only)"


class RegisteredArtifact(models.Model):
    """What every registry row has: RIME's validity status with its message, and who registered it when."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    validity_status = models.CharField(max_length=32, choices=ValidityStatus.choices, default=ValidityStatus.PENDING)
    validity_message = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        abstract = True


class RegisteredModel(RegisteredArtifact):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=20, choices=ModelSource.choices, default=ModelSource.UPLOAD)
    # Uploaded files live in storage under this prefix; the entry point is model.py or the model file itself.
    storage_prefix = models.CharField(max_length=500, blank=True)
    entry_point = models.CharField(max_length=300, blank=True)
    path = models.CharField(max_length=1000, blank=True, help_text="s3://bucket/key/model.py or a registry URI.")
    integration = models.ForeignKey(Integration, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    model_config = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="model_name_unique_in_project")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class DatasetSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded file"
    PATH = "path", "File path or URI"
    TABLE = "table", "Connection table"


class RegisteredData(RegisteredArtifact):
    """Where a dataset or a predictions table comes from: an uploaded file, a path or URI, or a connection table."""

    source = models.CharField(max_length=20, choices=DatasetSource.choices, default=DatasetSource.UPLOAD)
    path = models.CharField(max_length=1000, blank=True)
    integration = models.ForeignKey(Integration, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    table_name = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True


class Dataset(RegisteredData):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    file = models.FileField(upload_to="datasets/%Y/%m/", blank=True, max_length=500)
    # RIME's data_params: label_col, timestamp_col, pred_col, protected_features, features_not_in_model,
    # categorical_features, class_names, nrows, sample.
    data_params = models.JSONField(default=dict, blank=True)
    # Learned at validation: columns with dtypes, row count and size.
    schema = models.JSONField(default=dict, blank=True)
    row_count = models.BigIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="dataset_name_unique_in_project")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def label_col(self) -> str:
        return self.data_params.get("label_col") or ""


class Predictions(RegisteredData):
    """A model's predictions for a dataset (RIME keys them by the pair)."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="predictions")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="predictions")
    file = models.FileField(upload_to="predictions/%Y/%m/", blank=True, max_length=500)
    pred_params = models.JSONField(default=dict, blank=True)  # pred_col, timestamp_col

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "dataset"], name="one_predictions_per_pair")]
        verbose_name_plural = "predictions"

    def __str__(self) -> str:
        return f"{self.model} on {self.dataset}"


API_KEY_PREFIX = "rime_"


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    """An API key bound to one user and one workspace; only its SHA-256 is stored, the key is shown once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    suffix = models.CharField(max_length=4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (…{self.suffix})"

    @staticmethod
    def generate_raw_key() -> str:
        return API_KEY_PREFIX + secrets.token_urlsafe(32)

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AuditEvent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} {self.object_repr}"
