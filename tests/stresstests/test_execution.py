"""run_submit, run_start_from_config and run_execute called directly (the Celery task's body, without a worker)."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from projects.registries import services as registry
from projects.models import ValidityStatus
from stresstests import services
from stresstests.execution import Execution, run_claim, run_execute
from stresstests.failures import RunCancelled
from stresstests.models import RunStatus, StressTestReport

from . import data
from .conftest import upload

pytestmark = pytest.mark.django_db


def submit_and_execute(owner, run, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_submit(user=owner, run=run)
    run_execute(run.id)
    run.refresh_from_db()
    return run


def test_a_run_executes_through_the_sandbox_and_writes_report_summary_and_log(
    owner, complete_draft, django_capture_on_commit_callbacks
):
    run = submit_and_execute(owner, complete_draft, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.progress == 1.0 and run.finished_at and run.heartbeat_at
    report = StressTestReport.objects.get(run=run).data
    assert report["run"]["categories"] == ["TEST_CATEGORY_TYPE_DRIFT"]
    assert report["run"]["seed"] == 7
    assert run.summary == report["run"]["severity_counts"]
    assert sum(run.summary.values()) >= 1
    assert "[model stdout] scored 300 rows" in run.log


def test_a_model_py_with_a_syntax_error_fails_the_run_naming_file_and_line(
    owner, project, complete_draft, django_capture_on_commit_callbacks
):
    broken = registry.model_register(user=owner, project=project, name="broken", tags=[], source="upload",
                                     files=[upload("model.py", data.BROKEN_MODEL_PY.encode())], validate=False)
    services.run_set_model(user=owner, run=complete_draft, model=broken)
    run = submit_and_execute(owner, complete_draft, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    assert "model.py" in run.error and "line 1" in run.error
    assert not StressTestReport.objects.filter(run=run).exists()


def test_a_run_that_is_not_queued_is_not_executed(owner, complete_draft, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_submit(user=owner, run=complete_draft)
    services.run_cancel(user=owner, run=run)
    run_execute(run.id)  # e.g. the message was delivered after a cancel, or twice
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.started_at is None


def test_a_cancel_seen_by_the_progress_callback_stops_the_run(owner, complete_draft, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_submit(user=owner, run=complete_draft)
    assert run_claim(run.id)
    run.refresh_from_db()
    execution = Execution(run)
    services.run_cancel(user=owner, run=run)
    with pytest.raises(RunCancelled):
        execution.progress(0.5, "Feature Drift")
    execution.finish_with_error(RunCancelled())
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_submit_re_validates_every_step(owner, complete_draft, registered_model):
    registered_model.validity_status = ValidityStatus.INVALID
    registered_model.validity_message = "predict_df is missing"
    registered_model.save()
    complete_draft.evaluation_dataset = None
    complete_draft.save()
    with pytest.raises(ValidationError) as raised:
        services.run_submit(user=owner, run=complete_draft)
    assert raised.value.messages == ["Model scorer is invalid: predict_df is missing", "Choose the evaluation dataset."]
    complete_draft.refresh_from_db()
    assert complete_draft.status == RunStatus.DRAFT


def test_from_project_configuration_takes_the_project_settings(owner, project, complete_draft):
    project.stress_test_categories = ["TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"]
    project.test_suite_config = {"global_test_sensitivity": "TEST_SENSITIVITY_LESS_SENSITIVE",
                                 "protected_features": ["city"]}
    project.save()
    services.run_save_configuration(user=owner, run=complete_draft, config_mode="project", categories=[],
                                    name="From project", random_seed=None)
    config = services.effective_test_run_config(complete_draft)
    assert config["categories"] == ["TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"]
    assert config["test_suite_config"] == {"global_test_sensitivity": "TEST_SENSITIVITY_LESS_SENSITIVE"}
    run_config, protected = services.parse_run_config(config)
    assert run_config.global_test_sensitivity == "TEST_SENSITIVITY_LESS_SENSITIVE"
    assert protected == ["city"]


def test_start_from_config_queues_a_run_from_rimes_test_run_config(
    owner, project, registered_model, registered_datasets, django_capture_on_commit_callbacks
):
    reference, evaluation = registered_datasets
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.run_start_from_config(user=owner, project=project, test_run_config={
            "run_name": "From the SDK",
            "model_id": str(registered_model.id),
            "data_info": {"ref_dataset_id": str(reference.id), "eval_dataset_id": str(evaluation.id)},
            "categories": ["TEST_CATEGORY_TYPE_DRIFT"],
            "run_time_info": {"random_seed": "42"},
        })
    assert run.status == RunStatus.REQUESTED and run.name == "From the SDK" and run.config_mode == "custom"
    assert run.config["categories"] == ["TEST_CATEGORY_TYPE_DRIFT"]
    assert services.parse_run_config(run.config)[0].random_seed == 42
    assert len(callbacks) == 1


@pytest.mark.parametrize(("change", "message"), [
    ({"run_name": ""}, "run_name is required."),
    ({"model_id": "not-a-uuid"}, "No model with id 'not-a-uuid' in this project."),
    ({"categories": ["TEST_CATEGORY_TYPE_TELEPATHY"]}, "Unknown test category"),
    ({"data_info": {}}, "No dataset with id None in this project."),
])
def test_start_from_config_explains_what_is_wrong(owner, project, registered_model, registered_datasets, change,
                                                  message):
    reference, evaluation = registered_datasets
    config = {"run_name": "x", "model_id": str(registered_model.id),
              "data_info": {"ref_dataset_id": str(reference.id), "eval_dataset_id": str(evaluation.id)}, **change}
    with pytest.raises(ValidationError) as raised:
        services.run_start_from_config(user=owner, project=project, test_run_config=config)
    assert any(message in text for text in raised.value.messages)


def test_datasets_and_predictions_from_a_connection_run_end_to_end(
    client_for, owner, project, settings, tmp_path, complete_draft, django_capture_on_commit_callbacks
):
    import sqlite3

    from django.urls import reverse

    from projects.registries import integrations

    database = tmp_path / "warehouse.sqlite3"
    settings.DATA_PATH_ALLOWLIST = [tmp_path]
    evaluation = data.frame(seed=5, shift=5)
    with sqlite3.connect(database) as connection:
        data.frame(seed=4).to_sql("loans_2024", connection, index=False)
        evaluation.to_sql("loans_2025", connection, index=False)
        data.predictions_frame(evaluation).to_sql("scores_2025", connection, index=False)
    integrations.integration_create(user=owner, workspace=project.workspace, name="warehouse",
                                    integration_type="INTEGRATION_TYPE_SQL",
                                    config={"dialect": "sqlite", "sqlite_path": str(database)}, secrets={})
    client = client_for(owner)
    for role, table, extra in (("reference", "loans_2024", {}),
                               ("evaluation", "loans_2025", {"with_predictions": "on", "pred_connection": "warehouse",
                                                             "pred_table_name": "scores_2025", "pred_col": "pred"})):
        values = {"source": "connection", f"{role}-connection": "warehouse", f"{role}-table_name": table,
                  f"{role}-label_col": "label", **{f"{role}-{k}": v for k, v in extra.items()}}
        with django_capture_on_commit_callbacks(execute=False):
            response = client.post(reverse("stresstests:wizard_step", args=[complete_draft.id, role]), values)
        assert response.status_code == 302, response.content.decode()
    complete_draft.refresh_from_db()
    assert complete_draft.status == RunStatus.REQUESTED
    assert complete_draft.evaluation_dataset.name == "loans_2025 (warehouse)"
    assert complete_draft.evaluation_predictions.table_name == "scores_2025"
    run_execute(complete_draft.id)
    complete_draft.refresh_from_db()
    assert complete_draft.status == RunStatus.SUCCEEDED, complete_draft.error
    assert StressTestReport.objects.get(run=complete_draft).data["run"]["inputs"]["predictions"] is True


def test_a_run_past_its_time_limit_fails_with_advice(owner, complete_draft, settings,
                                                     django_capture_on_commit_callbacks):
    settings.STRESS_TEST_SOFT_TIME_LIMIT = 0
    run = submit_and_execute(owner, complete_draft, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("The stress test ran longer than its time limit (0 s) and was stopped.")


def test_a_heartbeat_stops_a_run_that_is_no_longer_running(owner, complete_draft, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_submit(user=owner, run=complete_draft)
    assert run_claim(run.id)
    execution = Execution(run)
    execution.beat()
    assert not execution.cancel_seen.is_set()
    # The fault-tolerance reaper failed the run while this worker was still busy with it.
    type(run).objects.filter(id=run.id).update(status=RunStatus.FAILED, error="The worker stopped answering.")
    execution.beat()
    assert execution.cancel_seen.is_set()
    with pytest.raises(RunCancelled):
        execution.progress(0.5, "Feature Drift")
    execution.finish_with_error(RunCancelled())
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.FAILED, "The worker stopped answering.")


def test_a_timestamp_named_only_on_the_evaluation_set_is_not_taken_for_a_feature(
    owner, project, complete_draft, django_capture_on_commit_callbacks
):
    """The fraud example's shape: only the evaluation file has a timestamp column."""
    evaluation = registry.dataset_register(
        user=owner, project=project, name="eval-with-time", source="upload",
        data_params={"label_col": data.LABEL, "timestamp_col": "ts"},
        file=upload("eval.csv", data.csv_bytes(data.frame(seed=2).assign(ts="2024-05-01"))), validate=False,
    )
    services.run_set_dataset(user=owner, run=complete_draft, role="evaluation", dataset=evaluation)
    run = submit_and_execute(owner, complete_draft, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED, run.error
    tested = {feature for category in StressTestReport.objects.get(run=run).data["categories"]
              for test in category["tests"] for case in test.get("test_cases", []) for feature in case["features"]}
    assert "ts" not in tested and "income" in tested

