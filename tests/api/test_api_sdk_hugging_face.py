"""Issue 15, done-when 1: the seed's procedure with a Hugging Face text model, run by the official rime-sdk 2.13.2
client against a live rime_web with a real worker: the model's save_pretrained folder and jsonl text datasets on a
local S3 server (moto), `register_model(model_config={"hugging_face": ...})`, `start_stress_test` -> succeeded, and
the test cases of the text run read back with `get_test_cases_df()`."""
from __future__ import annotations

import io

import pytest

from tests.api.test_api_sdk_workflow import S3_INTEGRATION_TYPE, finished, s3_schema
from tests.conftest import wait_until
from tests.text_models import SENTIMENT, cached_text_classifier, sentiment_frame

pytestmark = [pytest.mark.worker, pytest.mark.filterwarnings("ignore::FutureWarning")]

BUCKET = "text-bucket"
CLASS_MAP = {0: "negative", 1: "positive"}


@pytest.fixture(autouse=True)
def local_s3_allowed(allow_local_outbound):
    """The moto S3 server is on loopback: allowed explicitly (before the worker starts, so it inherits the setting)."""


def upload_text_example(s3_client) -> dict[str, str]:
    """The sentiment model (weights and config under model/, tokenizer under tokenizer/) and two jsonl datasets."""
    s3_client.create_bucket(Bucket=BUCKET)
    for path in sorted(cached_text_classifier(SENTIMENT).iterdir()):
        folder = "tokenizer" if path.name.startswith("tokenizer") else "model"
        s3_client.upload_fileobj(io.BytesIO(path.read_bytes()), BUCKET, f"{folder}/{path.name}")
    for name, seed in (("reference", 21), ("evaluation", 22)):
        frame = sentiment_frame(200, seed=seed)
        content = frame.to_json(orient="records", lines=True).encode()
        s3_client.upload_fileobj(io.BytesIO(content), BUCKET, f"data/{name}.jsonl")
    return {"model": f"s3://{BUCKET}/model/", "tokenizer": f"s3://{BUCKET}/tokenizer/",
            "reference": f"s3://{BUCKET}/data/reference.jsonl", "evaluation": f"s3://{BUCKET}/data/evaluation.jsonl"}


def test_the_seed_procedure_runs_a_hugging_face_model_from_s3(rime_sdk, live_server, celery_worker_process,
                                                              s3_client, s3_endpoint, api_key, workspace):
    from projects.models import RegisteredModel
    from stresstests.models import StressTestRun

    uris = upload_text_example(s3_client)
    rime_client = rime_sdk.Client(live_server.url, api_key)
    integration_id = rime_client.create_integration(
        workspace_id=str(workspace.id), name="local s3", integration_type=S3_INTEGRATION_TYPE,
        integration_schema=s3_schema(s3_endpoint))
    project = rime_client.create_project(name="reviews", description="Review sentiment",
                                         model_task="MODEL_TASK_BINARY_CLASSIFICATION")

    data_params = {"label_col": "label", "text_features": ["text"]}
    reference_id = project.register_dataset(
        name="reference", data_config={"connection_info": {"data_file": {"path": uris["reference"]}},
                                       "data_params": data_params}, integration_id=integration_id)
    evaluation_id = project.register_dataset(
        name="evaluation", data_config={"connection_info": {"data_file": {"path": uris["evaluation"]}},
                                        "data_params": data_params}, integration_id=integration_id)
    model_id = project.register_model(name="sentiment", model_config={"hugging_face": {
        "model_uri": uris["model"], "kwargs": {
            "tokenizer_uri": uris["tokenizer"], "class_map": CLASS_MAP, "ignore_class_names": True}}},
        integration_id=integration_id)

    stored = RegisteredModel.objects.get(id=model_id)
    assert stored.model_config == {"hugging_face": {
        "model_uri": uris["model"], "tokenizer_uri": uris["tokenizer"],
        "class_map": {"0": "negative", "1": "positive"}, "ignore_class_names": True}}
    # Registration validates the model on the worker: downloaded from S3 and loaded in the sandbox.
    wait_until(lambda: RegisteredModel.objects.get(id=model_id).validity_status != "VALIDITY_STATUS_PENDING",
               timeout=300, interval=1.0, message="the model's validation")
    stored.refresh_from_db()
    assert stored.validity_status == "VALIDITY_STATUS_VALID", stored.validity_message
    info = project.get_model(model_id=model_id)["model_info"]["hugging_face"]
    assert info["model_uri"] == uris["model"]

    config = {"data_info": {"ref_dataset_id": reference_id, "eval_dataset_id": evaluation_id},
              "model_id": model_id, "run_name": "Sentiment from the hub folder"}
    job = rime_client.start_stress_test(test_run_config=config, project_id=project.project_id)
    wait_until(lambda: finished(StressTestRun, job.job_id), timeout=600, interval=1.0, message="the stress test")
    status = job.get_status(verbose=True, wait_until_finish=True, poll_rate_sec=0.5)
    run = StressTestRun.objects.get(job_id=job.job_id)
    assert status["status"] == "JOB_STATUS_SUCCEEDED", run.error

    report = run.report.data
    performance = {category["category"] for category in report["categories"]}
    assert performance, "the text run reported no category"
    cases = job.get_test_run().get_test_cases_df(show_test_case_metrics=True)
    expected_cases = sum(len(t["test_cases"]) for c in report["categories"] for t in c["tests"])
    assert len(cases) == expected_cases > 0
    assert set(cases["test_run_id"]) == {str(run.id)}
    # The text categories ran, not only Model Performance: vocabulary drift and the text perturbations report too.
    assert {"DRIFT_STAT:excess_js_divergence", "FAILING_INPUTS:flip_rate"} <= set(cases.columns)
    assert cases["DRIFT_STAT:excess_js_divergence"].notna().any() and cases["FAILING_INPUTS:flip_rate"].notna().any()
    # The model's own scores: a model that learnt the task has a high AUC on the evaluation reviews.
    result = job.get_test_run().get_result_df()
    assert result.loc[0, "metrics.model_perf.AUC.eval_metric"] > 0.9
