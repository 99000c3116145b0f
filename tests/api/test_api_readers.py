"""The result readers' JSON, from a constructed report with a known answer, and their paging."""
from __future__ import annotations

import pytest

from tests.api.reports import CASE_COUNT, REPORT, finished_run


@pytest.fixture
def run(project):
    return finished_run(project)


def get(client, path: str, key: str):
    response = client.get(path, HTTP_RIME_API_KEY=key)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_test_run_carries_counts_and_model_metrics(client, api_key, run):
    test_run = get(client, f"/v1/test-runs/{run.id}", api_key)["testRun"]
    metrics = test_run["metrics"]
    assert test_run["testRunId"] == str(run.id) and test_run["projectId"] == {"uuid": str(run.project_id)}
    assert metrics["summaryCounts"] == {"total": 4, "pass": 1, "warning": 1, "fail": 1, "skip": 1}
    assert metrics["severityCounts"] == {"numNoneSeverity": 1, "numLowSeverity": 1, "numHighSeverity": 1}
    assert metrics["modelPerf"]["AUC"] == {"refMetric": 0.9, "evalMetric": 0.7}
    assert metrics["modelPerf"]["Accuracy"] == {"refMetric": 0.8}
    assert metrics["durationMillis"] == "2500"


def test_test_cases_page_until_has_more_is_false(client, api_key, run):
    first = get(client, f"/v1/test-cases?listTestCasesQuery.testRunId={run.id}&pageSize=3", api_key)
    assert len(first["testCases"]) == 3 and first["hasMore"] is True
    second = get(client, f"/v1/test-cases?pageToken={first['nextPageToken']}&pageSize=3", api_key)
    assert len(second["testCases"]) == CASE_COUNT - 3
    assert second["hasMore"] is False and second["nextPageToken"] == ""


def test_a_test_case_says_its_status_and_typed_metrics(client, api_key, run):
    case = get(client, f"/v1/test-cases?listTestCasesQuery.testRunId={run.id}", api_key)["testCases"][0]
    assert case["testBatchType"] == "feature_drift" and case["features"] == ["amount"]
    assert case["status"] == "TEST_CASE_STATUS_FAIL" and case["severity"] == "SEVERITY_ALERT"
    metrics = {m["metric"]: m for m in case["metrics"]}
    assert metrics["psi"] == {"metric": "psi", "category": "TEST_METRIC_CATEGORY_DRIFT_STAT", "floatValue": 0.71}
    assert metrics["rows"]["intValue"] == "12"
    assert metrics["note"]["strValue"] == "shifted"


def test_category_results_always_hold_all_three_counts(client, api_key, run):
    results = get(client, f"/v1/category-results/{run.id}", api_key)["categoryTestResults"]
    assert [r["testCategory"] for r in results] == [c["category"] for c in REPORT["categories"]]
    drift, adversarial, fairness = results
    assert drift["failingTestTypes"] == ["feature_drift"]
    assert adversarial["riskCategory"] == "RISK_CATEGORY_TYPE_SECURITY_RISK"
    assert fairness["severity"] == "SEVERITY_UNSPECIFIED"
    assert all(set(r["severityCounts"]) == {"numNoneSeverity", "numLowSeverity", "numHighSeverity"} for r in results)


def test_summary_tests_page_through_the_categories(client, api_key, run):
    first = get(client, f"/v1/summary-tests?query.testRunId={run.id}&pageSize=2", api_key)
    second = get(client, f"/v1/summary-tests?pageToken={first['nextPageToken']}&pageSize=2", api_key)
    assert len(first["summaryTestResults"]) + len(second["summaryTestResults"]) == 3
    assert second["hasMore"] is False


def test_a_succeeded_job_names_its_test_run_and_completed_batches(client, api_key, run):
    job = get(client, f"/v1/jobs/{run.job_id}?view=JOB_VIEW_FULL", api_key)["job"]
    assert job["status"] == "JOB_STATUS_SUCCEEDED" and job["jobType"] == "JOB_TYPE_MODEL_STRESS_TEST"
    assert job["jobData"]["stress"]["testRunId"] == str(run.id)
    batches = job["jobData"]["stress"]["progress"]["testRun"]["testBatches"]
    assert len(batches) == 4 and {b["status"] for b in batches} == {"TEST_TASK_STATUS_COMPLETED"}


def test_a_running_job_shows_its_planned_tests_partly_done(client, api_key, run):
    run.status, run.progress, run.finished_at = "JOB_STATUS_RUNNING", 0.5, None
    run.save()
    job = get(client, f"/v1/jobs/{run.job_id}", api_key)["job"]
    statuses = [b["status"] for b in job["jobData"]["stress"]["progress"]["testRun"]["testBatches"]]
    assert "testRunId" not in job["jobData"]["stress"]
    assert statuses and statuses.count("TEST_TASK_STATUS_COMPLETED") == round(len(statuses) / 2)


def test_a_run_that_has_not_succeeded_has_no_test_run(client, api_key, run):
    run.status = "JOB_STATUS_FAILED"
    run.save()
    assert client.get(f"/v1/test-runs/{run.id}", HTTP_RIME_API_KEY=api_key).status_code == 404


def test_the_native_report_downloads_as_json(client, api_key, run):
    response = client.get(f"/api/v1/test-runs/{run.id}/report", HTTP_RIME_API_KEY=api_key)
    assert response.json() == REPORT
    assert "attachment" in response["Content-Disposition"]


def test_the_native_report_is_readable_with_a_session(client_for, owner, run):
    assert client_for(owner).get(f"/api/v1/test-runs/{run.id}/report").status_code == 200


def test_list_test_runs_names_only_succeeded_runs(client, api_key, run, project):
    body = get(client, f"/v1/test-runs?firstPageQuery.projectId.uuid={project.id}"
                       "&firstPageQuery.testingType=TEST_TYPE_STRESS_TESTING_UNSPECIFIED", api_key)
    assert [r["testRunId"] for r in body["testRuns"]] == [str(run.id)] and body["hasMore"] is False


def test_cancelling_a_queued_job_cancels_it(client, api_key, run):
    run.status = "JOB_STATUS_REQUESTED"
    run.save()
    response = client.post(f"/v1/jobs/cancel/{run.job_id}", HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 200
    run.refresh_from_db()
    assert run.status == "JOB_STATUS_CANCELLED"
