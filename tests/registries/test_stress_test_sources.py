"""Done-when 1 and 2 through the wizard engineer's execution service: registered S3 and PostgreSQL artifacts feed
a real stress test run (committed rows, as on a worker)."""
from __future__ import annotations

import pytest

from projects.registries import services as registry, validation
from projects.models import DatasetSource, ValidityStatus

from .conftest import csv_bytes, fraud_frame, put_objects, run_through_service, uploads

pytestmark = pytest.mark.django_db(transaction=True)

PARAMS = {"label_col": "is_fraud", "timestamp_col": "ts"}


def _valid(row):
    assert row.validity_status == ValidityStatus.VALID, row.validity_message
    return row


def _path_dataset(owner, project, integration, uri, name):
    dataset = registry.dataset_register(user=owner, project=project, name=name, source=DatasetSource.PATH,
                                        data_params=PARAMS, path=uri, integration=integration, validate=False)
    return _valid(validation.dataset_validate(dataset))


def test_a_stress_test_runs_on_a_dataset_and_a_model_registered_from_s3(owner, project, make_s3_integration,
                                                                        s3_endpoint, s3_bucket, model_files):
    put_objects(s3_endpoint, s3_bucket, {"ref.csv": csv_bytes(fraud_frame(80)), "eval.csv": csv_bytes(fraud_frame(40)),
                                         **{f"fraud/{k}": v for k, v in model_files.items()}})
    lake = make_s3_integration()
    reference = _path_dataset(owner, project, lake, f"s3://{s3_bucket}/ref.csv", "ref")
    evaluation = _path_dataset(owner, project, lake, f"s3://{s3_bucket}/eval.csv", "eval")
    model = registry.model_register(user=owner, project=project, name="fraud", tags=[], source="path",
                                    path=f"s3://{s3_bucket}/fraud/model.py", integration=lake, validate=False)
    _valid(validation.model_validate(model))

    run = run_through_service(user=owner, project=project, reference=reference, evaluation=evaluation, model=model)

    assert run.status == "JOB_STATUS_SUCCEEDED", run.error
    metrics = run.report.data["run"]["model_metrics"]
    assert metrics["auc"] == {"reference": 1.0, "evaluation": 1.0}


def test_a_stress_test_runs_on_a_postgresql_table_with_a_timestamp_column(owner, project, make_pg_integration,
                                                                          model_files):
    warehouse = make_pg_integration()
    datasets = []
    for name in ("ref", "eval"):
        dataset = registry.dataset_register_from_table(user=owner, project=project, name=name,
                                                       integration_name=warehouse.name, table_name="transactions",
                                                       data_params=PARAMS, validate=False)
        datasets.append(_valid(validation.dataset_validate(dataset)))
    model = registry.model_register(user=owner, project=project, name="fraud", tags=[], source="upload",
                                    files=uploads(model_files), validate=False)

    run = run_through_service(user=owner, project=project, reference=datasets[0], evaluation=datasets[1], model=model)

    assert run.status == "JOB_STATUS_SUCCEEDED", run.error
    assert run.report.data["run"]["reference"]["rows"] == 120
    assert run.report.data["run"]["model_metrics"]["auc"]["evaluation"] == 1.0


def test_a_run_whose_s3_credentials_were_revoked_fails_with_the_s3_message(owner, project, make_s3_integration,
                                                                           s3_endpoint, s3_bucket, model_files,
                                                                           s3_keys):
    key_id, secret = s3_keys
    put_objects(s3_endpoint, s3_bucket, {"ref.csv": csv_bytes(fraud_frame(40))}, credentials=s3_keys)
    lake = make_s3_integration(key_id=key_id, secret=secret)
    dataset = _path_dataset(owner, project, lake, f"s3://{s3_bucket}/ref.csv", "ref")
    model = registry.model_register(user=owner, project=project, name="m", tags=[], source="upload",
                                    files=uploads(model_files), validate=False)
    lake.set_secrets({"access_key_id": key_id, "secret_access_key": "rotated-away-0000"})
    lake.save()

    run = run_through_service(user=owner, project=project, reference=dataset, evaluation=dataset, model=model)

    assert run.status == "JOB_STATUS_FAILED"
    assert "S3 refused the integration's credentials" in run.error
