"""Done-when 1: the seed's SDK procedure, run by the official rime-sdk 2.13.2 client against a live rime_web with a
real worker and a local S3 server. The only edits to the seed are the two the real client requires (contract §1):
`data_config=` instead of `data_params=`, and `job.get_status(wait_until_finish=True)` to wait."""
from __future__ import annotations

import pytest

from tests.api.sdk_fixtures import LABEL, upload_fraud_example
from tests.conftest import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.filterwarnings("ignore::FutureWarning")]


@pytest.fixture(autouse=True)
def local_s3_allowed(allow_local_outbound):
    """The moto S3 server is on loopback: allowed explicitly (before the worker starts, so it inherits the setting)."""

S3_INTEGRATION_TYPE = "INTEGRATION_TYPE_AWS_ACCESS_KEY"
PUBLIC, SECRET = "VARIABLE_SENSITIVITY_PUBLIC", "VARIABLE_SENSITIVITY_WORKSPACE_SECRET"


def s3_schema(endpoint: str) -> list[dict]:
    return [
        {"name": "AWS_ACCESS_KEY_ID", "sensitivity": SECRET, "value": "testing"},
        {"name": "AWS_SECRET_ACCESS_KEY", "sensitivity": SECRET, "value": "testing"},
        {"name": "AWS_ENDPOINT_URL", "sensitivity": PUBLIC, "value": endpoint},
        {"name": "AWS_REGION", "sensitivity": PUBLIC, "value": "us-east-1"},
    ]


def client_with_s3(rime_sdk, url: str, api_key: str, workspace, endpoint: str):
    """The official client and the id of an S3 integration of the workspace pointing at `endpoint`."""
    client = rime_sdk.Client(url, api_key)
    integration_id = client.create_integration(workspace_id=str(workspace.id), name="s3",
                                               integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY",
                                               integration_schema=s3_schema(endpoint))
    return client, integration_id


def finished(run_model, job_id: str) -> bool:
    run = run_model.objects.get(job_id=job_id)
    return run.status in ("JOB_STATUS_SUCCEEDED", "JOB_STATUS_FAILED", "JOB_STATUS_CANCELLED")


def test_the_seed_procedure_runs_against_rime_web(rime_sdk, live_server, celery_worker_process, s3_client,
                                                  s3_endpoint, api_key, workspace, tmp_path):
    from stresstests.models import StressTestRun

    uris = upload_fraud_example(s3_client, "fraud-bucket", tmp_path)
    rime_client = rime_sdk.Client(live_server.url, api_key)
    integration_id = rime_client.create_integration(
        workspace_id=str(workspace.id), name="local s3", integration_type=S3_INTEGRATION_TYPE,
        integration_schema=s3_schema(s3_endpoint))

    # 1. Create a project, and get it back by id.
    project = rime_client.create_project(name="project", description="Card fraud",
                                         model_task="MODEL_TASK_BINARY_CLASSIFICATION")
    project = rime_client.get_project(project.project_id)
    assert project.name == "project"

    # 2-3. Register the reference and evaluation datasets from S3.
    reference_id = project.register_dataset(
        name="reference",
        data_config={"connection_info": {"data_file": {"path": uris["reference"]}},
                     "data_params": {"label_col": LABEL}},
        integration_id=integration_id)
    evaluation_id = project.register_dataset(
        name="evaluation",
        data_config={"connection_info": {"data_file": {"path": uris["evaluation"]}},
                     "data_params": {"label_col": LABEL}},
        integration_id=integration_id)

    # 4. Register a model from a model.py path, and a Hugging Face model.
    model_id = project.register_model_from_path(name="fraud model", remote_path=uris["model"])
    hugging_face_id = project.register_model(name="hf model", model_config={"hugging_face": {
        "model_uri": "distilbert-base-uncased", "kwargs": {
            "tokenizer_uri": "distilbert-base-uncased", "class_map": {0: "legit", 1: "fraud"},
            "ignore_class_names": True}}})
    assert hugging_face_id != model_id
    assert_registries_read_back(project, reference_id, model_id, hugging_face_id, uris)

    # 5-6. Configure and start the stress test.
    config = {"data_info": {"ref_dataset_id": reference_id, "eval_dataset_id": evaluation_id},
              "model_id": model_id, "run_name": "My Stress Test Run"}
    job = rime_client.start_stress_test(test_run_config=config, project_id=project.project_id)

    early = job.get_status(verbose=True)
    assert early["status"].startswith("JOB_STATUS_") and early["job_id"] == job.job_id
    assert [p.project_id for p in rime_client.list_projects()] == [project.project_id]

    # The client's own wait has no timeout; bound it by the row first so a broken worker fails instead of hanging.
    wait_until(lambda: finished(StressTestRun, job.job_id), timeout=600, interval=1.0, message="the stress test")
    status = job.get_status(verbose=True, wait_until_finish=True, poll_rate_sec=0.5)
    run = StressTestRun.objects.get(job_id=job.job_id)
    assert status["status"] == "JOB_STATUS_SUCCEEDED", run.error

    test_run = job.get_test_run()
    assert test_run.test_run_id == str(run.id)
    assert rime_client.get_job(job.job_id).job_id == job.job_id
    assert rime_client.get_test_run(test_run.test_run_id).test_run_id == test_run.test_run_id
    assert_results_read_back(test_run, run)
    assert_lists_name_the_run(project, job, test_run)


def assert_registries_read_back(project, reference_id, model_id, hugging_face_id, uris) -> None:
    assert {d["dataset_id"] for d in project.list_datasets()} == {reference_id, project.get_dataset(
        dataset_name="evaluation")["dataset_id"]}
    assert project.get_dataset(dataset_id=reference_id)["data_info"]["connection_info"]["data_file"]["path"] == \
        uris["reference"]
    models = {m["model_id"]["uuid"]: m for m in project.list_models()}
    assert set(models) == {model_id, hugging_face_id}
    assert models[hugging_face_id]["model_info"]["hugging_face"]["model_uri"] == "distilbert-base-uncased"
    assert project.get_model(model_name="fraud model")["model_id"]["uuid"] == model_id


def assert_results_read_back(test_run, run) -> None:
    report = run.report.data
    result = test_run.get_result_df()
    assert len(result) == 1
    assert result.loc[0, "name"] == "My Stress Test Run"
    assert result.loc[0, "metrics.summary_counts.total"] == report["run"]["summary_counts"]["total"] > 0
    assert "metrics.model_perf.AUC.eval_metric" in result.columns

    cases = test_run.get_test_cases_df(show_test_case_metrics=True)
    expected_cases = sum(len(t["test_cases"]) for c in report["categories"] for t in c["tests"])
    assert len(cases) == expected_cases > 0
    assert set(cases["test_run_id"]) == {str(run.id)}

    categories = test_run.get_category_results_df()
    assert list(categories["test_category"]) == [c["category"] for c in report["categories"]]
    assert (categories["num_high_severity"] >= 0).all()
    summary = test_run.get_summary_tests_df()
    assert list(summary["test_category"]) == list(categories["test_category"])


def assert_lists_name_the_run(project, job, test_run) -> None:
    assert [j.job_id for j in project.list_stress_testing_jobs()] == [job.job_id]
    assert [r.test_run_id for r in project.list_test_runs()] == [test_run.test_run_id]
