"""Runs and their engine reports (shared/ENGINE.md) as RIME's job, test-run, test-case and category-result messages."""
from __future__ import annotations

import base64
from collections.abc import Iterator

from django.utils import timezone

from projects.api.wire import compact, timestamp, uuid_obj
from stresstests.models import RunStatus, StressTestRun

CLUSTER_VERSION = "2.13.2"
JOB_TYPE = "JOB_TYPE_MODEL_STRESS_TEST"
TESTING_TYPE = "TEST_TYPE_STRESS_TESTING_UNSPECIFIED"
COMPLETED, RUNNING, PENDING = "TEST_TASK_STATUS_COMPLETED", "TEST_TASK_STATUS_RUNNING", "TEST_TASK_STATUS_PENDING"
TASK_STATUS = {
    RunStatus.SUCCEEDED: COMPLETED, RunStatus.RUNNING: RUNNING, RunStatus.FAILED: "TEST_TASK_STATUS_FAILED",
    RunStatus.CANCELLED: "TEST_TASK_STATUS_CANCELLED",
}
CASE_STATUS = {"SEVERITY_PASS": "TEST_CASE_STATUS_PASS_UNSPECIFIED", "SEVERITY_WARNING": "TEST_CASE_STATUS_WARNING",
               "SEVERITY_ALERT": "TEST_CASE_STATUS_FAIL"}
RISK_CATEGORY = {"operational": "RISK_CATEGORY_TYPE_OPERATIONAL_HEALTH", "security": "RISK_CATEGORY_TYPE_SECURITY_RISK",
                 "fairness": "RISK_CATEGORY_TYPE_ETHICAL_RISK"}
# RIME's modelPerf keys are display names; they become DataFrame column names in get_result_df.
METRIC_DISPLAY_NAMES = {"auc": "AUC", "accuracy": "Accuracy", "f1": "F1", "precision": "Precision",
                        "recall": "Recall", "log_loss": "Log Loss", "brier": "Brier Score", "rmse": "RMSE",
                        "mae": "MAE", "r2": "R2", "mape": "MAPE", "positive_rate": "Positive Prediction Rate"}
# Which TEST_METRIC_CATEGORY_* a report metric belongs to, by what its name says.
METRIC_CATEGORY_HINTS = (
    (("psi", "ks", "drift", "distance", "p_value", "statistic", "divergence"), "DRIFT_STAT"),
    (("impact", "diff", "degradation", "change", "drop", "gap", "delta"), "PERFORMANCE_DIFF"),
    (("failing", "count", "num_", "rows", "rate"), "FAILING_INPUTS"),
    (("auc", "accuracy", "f1", "precision", "recall", "rmse", "mae", "loss"), "PERFORMANCE_METRIC_VALUE"),
)


# --- jobs ---------------------------------------------------------------------------------------------------------------


def job_message(run: StressTestRun, *, report: dict | None = None, planned: list[str] | None = None,
                waiting: str = "") -> dict:
    """`waiting`: why a queued run is not starting (presence.no_worker_message), shown as its progress text."""
    status = RunStatus.REQUESTED if run.status == RunStatus.DRAFT else run.status
    stress = {"projectId": uuid_obj(run.project_id),
              "progress": {"testRun": {"testRunId": str(run.id), "status": TASK_STATUS.get(status, PENDING),
                                       "testBatches": test_batches(run, report, planned or [])}}}
    if status == RunStatus.SUCCEEDED:
        stress["testRunId"] = str(run.id)
    return compact({
        "jobId": str(run.job_id),
        "jobType": JOB_TYPE,
        "status": status,
        "creationTime": timestamp(run.created_at),
        "startTime": timestamp(run.started_at),
        "completionTime": timestamp(run.finished_at),
        "runningTimeSecs": running_seconds(run),
        "jobData": {"stress": stress},
        "jobProgressStr": f"{progress_text(run)} ({waiting})" if waiting else progress_text(run),
        "cancellationRequested": bool(run.cancel_requested),
        "errorMsg": run.error or None,
    })


def running_seconds(run: StressTestRun) -> float:
    if run.started_at is None:
        return 0.0
    return round(((run.finished_at or timezone.now()) - run.started_at).total_seconds(), 3)


def progress_fraction(run: StressTestRun) -> float:
    # Stored as a fraction; tolerate a percentage so a writer's choice never shows 5000 %.
    value = float(run.progress or 0.0)
    return min(1.0, value / 100 if value > 1 else value)


def progress_text(run: StressTestRun) -> str:
    text = f"{progress_fraction(run) * 100:.0f}%"
    return f"{text} ({run.current_test})" if run.current_test else text


def test_batches(run: StressTestRun, report: dict | None, planned: list[str]) -> list[dict]:
    """Finished: the report's tests. Otherwise the planned tests, the first `progress` share of them completed."""
    if report:
        return [{"type": test["test_type"], "status": COMPLETED} for test in iter_tests(report)]
    done = round(progress_fraction(run) * len(planned))
    running = run.status == RunStatus.RUNNING
    return [{"type": key, "status": COMPLETED if i < done else RUNNING if i == done and running else PENDING}
            for i, key in enumerate(planned)]


# --- test runs ----------------------------------------------------------------------------------------------------------


def iter_tests(report: dict) -> Iterator[dict]:
    for category in report.get("categories") or []:
        yield from category.get("tests") or []


def severity_counts(counts: dict) -> dict:
    """RIME's three buckets; all three always present, since the client int()s each of them."""
    return {"numNoneSeverity": int(counts.get("pass", 0)), "numLowSeverity": int(counts.get("warning", 0)),
            "numHighSeverity": int(counts.get("alert", 0))}


def test_run_message(run: StressTestRun, *, report: dict | None, web_url: str) -> dict:
    message = compact({
        "testRunId": str(run.id),
        "name": run.name or str(run),
        "projectId": uuid_obj(run.project_id),
        "modelTask": run.project.model_task,
        "testingType": TESTING_TYPE,
        "uploadTime": timestamp(run.finished_at or run.created_at),
        "refDataId": str(run.reference_dataset_id) if run.reference_dataset_id else None,
        "evalDataId": str(run.evaluation_dataset_id) if run.evaluation_dataset_id else None,
        "modelId": uuid_obj(run.model_id),
        "webAppUrl": {"url": web_url},
        "status": TASK_STATUS.get(run.status, PENDING),
        "rimeVersion": CLUSTER_VERSION,
    })
    if report:
        message["testCategories"] = [c["category"] for c in report.get("categories") or []]
        message["metrics"] = run_metrics(report)
    return message


def run_metrics(report: dict) -> dict:
    run = report.get("run") or {}
    summary = run.get("summary_counts") or {}
    model_perf = {METRIC_DISPLAY_NAMES.get(name, name): compact({"refMetric": values.get("reference"),
                                                                 "evalMetric": values.get("evaluation")})
                  for name, values in (run.get("model_metrics") or {}).items()}
    return compact({
        "durationMillis": str(int(float(run.get("duration_s") or 0) * 1000)),
        "numInputs": str((run.get("evaluation") or {}).get("rows", 0)),
        "summaryCounts": {key: int(summary.get(key, 0)) for key in ("total", "pass", "warning", "fail", "skip")},
        "severityCounts": severity_counts(run.get("severity_counts") or {}),
        "modelPerf": model_perf,
    })


# --- test cases ---------------------------------------------------------------------------------------------------------


def test_case_messages(run: StressTestRun, report: dict) -> list[dict]:
    cases = []
    for category in report.get("categories") or []:
        for test in category.get("tests") or []:
            for index, case in enumerate(test.get("test_cases") or []):
                cases.append(test_case_message(run, category, test, case, index))
    return cases


def test_case_message(run: StressTestRun, category: dict, test: dict, case: dict, index: int) -> dict:
    features = [str(feature) for feature in case.get("features") or []]
    feature_id = base64.urlsafe_b64encode(",".join(features).encode()).decode()
    return compact({
        "testRunId": str(run.id),
        "features": features,
        "testBatchType": test["test_type"],
        "status": CASE_STATUS.get(case.get("severity"), "TEST_CASE_STATUS_SKIP"),
        "severity": case.get("severity") or "SEVERITY_UNSPECIFIED",
        "importanceScore": case.get("importance_score"),
        "testCategory": category["category"],
        "category": category.get("name") or category["category"],
        "metrics": [metric_message(name, value) for name, value in (case.get("metrics") or {}).items()],
        "urlSafeFeatureId": feature_id,
        "testCaseId": f"{test['test_type']}:{index}",
    })


def metric_category(name: str) -> str:
    lowered = name.lower()
    for hints, category in METRIC_CATEGORY_HINTS:
        if any(hint in lowered for hint in hints):
            return f"TEST_METRIC_CATEGORY_{category}"
    return "TEST_METRIC_CATEGORY_UNSPECIFIED"


def metric_message(name: str, value) -> dict:
    message = {"metric": name, "category": metric_category(name)}
    if value is None:
        message["empty"] = {}
    elif isinstance(value, bool | int):
        message["intValue"] = str(int(value))
    elif isinstance(value, float):
        message["floatValue"] = value
    elif isinstance(value, list):
        message["strList"] = {"values": [str(item) for item in value]}
    else:
        message["strValue"] = str(value)
    return message


# --- category results ---------------------------------------------------------------------------------------------------


def category_result_messages(run: StressTestRun, report: dict) -> list[dict]:
    return [category_result_message(run, category) for category in report.get("categories") or []]


def category_result_message(run: StressTestRun, category: dict) -> dict:
    tests = category.get("tests") or []
    failing = [t["test_type"] for t in tests if t.get("severity") in ("SEVERITY_WARNING", "SEVERITY_ALERT")]
    metrics = []
    if category.get("pass_rate") is not None:
        metrics.append({"name": "pass_rate", "value": category["pass_rate"],
                        "description": f"{category.get('passed', 0)}/{category.get('total', 0)} tests passed"})
    return compact({
        "id": str(run.id),
        "severity": category.get("severity") or "SEVERITY_UNSPECIFIED",
        "categoryMetrics": metrics,
        "testBatchTypes": [t["test_type"] for t in tests],
        "description": category.get("name"),
        "severityCounts": severity_counts(category.get("severity_counts") or {}),
        "failingTestTypes": failing,
        "duration": category.get("duration_s"),
        "riskCategory": RISK_CATEGORY.get(category.get("risk_group"), "RISK_CATEGORY_TYPE_UNSPECIFIED"),
        "testCategory": category["category"],
    })
