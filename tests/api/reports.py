"""A constructed engine report (shared/ENGINE.md shape) and a finished run holding it, for reader tests."""
from __future__ import annotations

from django.utils import timezone

REPORT = {
    "schema_version": 1,
    "run": {
        "model_task": "MODEL_TASK_BINARY_CLASSIFICATION", "duration_s": 2.5,
        "reference": {"rows": 100, "sampled_rows": 100}, "evaluation": {"rows": 80, "sampled_rows": 80},
        "model_metrics": {"auc": {"reference": 0.9, "evaluation": 0.7}, "accuracy": {"reference": 0.8,
                                                                                      "evaluation": None}},
        "severity_counts": {"alert": 1, "warning": 1, "pass": 1, "skipped": 1, "error": 0},
        "summary_counts": {"total": 4, "pass": 1, "warning": 1, "fail": 1, "skip": 1},
    },
    "categories": [
        {"category": "TEST_CATEGORY_TYPE_DRIFT", "name": "Drift", "risk_group": "operational",
         "severity": "SEVERITY_ALERT", "passed": 1, "total": 2, "pass_rate": 0.5, "duration_s": 0.2,
         "severity_counts": {"alert": 1, "warning": 0, "pass": 1, "skipped": 0, "error": 0},
         "tests": [
             {"test_type": "feature_drift", "name": "Feature Drift", "severity": "SEVERITY_ALERT",
              "status": "completed", "test_cases": [
                  {"features": ["amount"], "severity": "SEVERITY_ALERT", "importance_score": 0.03,
                   "metrics": {"psi": 0.71, "impact_auc": -0.03, "rows": 12, "note": "shifted", "bins": [1, 2]}},
                  {"features": ["hour"], "severity": "SEVERITY_PASS", "importance_score": 0.0,
                   "metrics": {"psi": 0.01, "impact_auc": None}}]},
             {"test_type": "label_drift", "name": "Label Drift", "severity": "SEVERITY_PASS",
              "status": "completed", "test_cases": [{"features": [], "severity": "SEVERITY_PASS", "metrics": {}}]},
         ]},
        {"category": "TEST_CATEGORY_TYPE_ADVERSARIAL", "name": "Adversarial", "risk_group": "security",
         "severity": "SEVERITY_WARNING", "passed": 0, "total": 1, "pass_rate": 0.0, "duration_s": 1.1,
         "severity_counts": {"alert": 0, "warning": 1, "pass": 0, "skipped": 1, "error": 0},
         "tests": [
             {"test_type": "single_feature_changes", "name": "Single-Feature Changes",
              "severity": "SEVERITY_WARNING", "status": "completed", "test_cases": [
                  {"features": ["amount"], "severity": "SEVERITY_WARNING", "metrics": {"prediction_change": 0.2}}]},
             {"test_type": "bounded_attack", "name": "Bounded Attack", "severity": None, "status": "skipped",
              "test_cases": []},
         ]},
        {"category": "TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS", "name": "Bias and Fairness", "risk_group": "fairness",
         "severity": None, "passed": 0, "total": 0, "pass_rate": None, "duration_s": 0.0,
         "severity_counts": {"alert": 0, "warning": 0, "pass": 0, "skipped": 0, "error": 0}, "tests": []},
    ],
    "key_findings": ["amount has drifted."],
}
CASE_COUNT = 4


def finished_run(project, *, name: str = "Finished run"):
    from projects.models import Dataset, RegisteredModel
    from stresstests.models import RunStatus, StressTestReport, StressTestRun

    dataset = Dataset.objects.create(project=project, name=f"{name} data", source="path", path="/data/x.csv")
    model = RegisteredModel.objects.create(project=project, name=f"{name} model", source="path",
                                           path="/models/model.py")
    now = timezone.now()
    run = StressTestRun.objects.create(
        project=project, name=name, status=RunStatus.SUCCEEDED, model=model, reference_dataset=dataset,
        evaluation_dataset=dataset, progress=1.0, started_at=now, finished_at=now, log="engine log")
    StressTestReport.objects.create(run=run, data=REPORT)
    return run
