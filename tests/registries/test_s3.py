"""Datasets and models registered from s3:// paths, read from a real S3-compatible server on loopback (moto)."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from projects.registries import services as registry, sources, validation
from projects.models import ValidityStatus

from .conftest import csv_bytes, fraud_frame, put_objects, run_engine

pytestmark = pytest.mark.django_db

LABELS = {"label_col": "is_fraud", "timestamp_col": "ts"}


@pytest.fixture
def fraud_bucket(s3_endpoint, s3_bucket, model_files):
    objects = {"data/ref.csv": csv_bytes(fraud_frame(80)), "data/eval.csv.gz": _gzip(csv_bytes(fraud_frame(50))),
               **{f"models/fraud/{name}": content for name, content in model_files.items()},
               "models/fraud/helpers/notes.txt": b"beside the model"}
    put_objects(s3_endpoint, s3_bucket, objects)
    return s3_bucket


def _gzip(content: bytes) -> bytes:
    import gzip

    return gzip.compress(content)


def _register_s3_dataset(project, owner, integration, uri: str, name: str = "ref"):
    dataset = registry.dataset_register(user=owner, project=project, name=name, source="path", data_params=LABELS,
                                        path=uri, integration=integration, validate=False)
    return validation.dataset_validate(dataset)


def test_a_dataset_and_a_model_from_s3_paths_are_used_in_a_stress_test(project, owner, make_s3_integration,
                                                                       fraud_bucket):
    lake = make_s3_integration()
    reference = _register_s3_dataset(project, owner, lake, f"s3://{fraud_bucket}/data/ref.csv")
    evaluation = _register_s3_dataset(project, owner, lake, f"s3://{fraud_bucket}/data/eval.csv.gz", "eval")
    assert (reference.validity_status, reference.row_count) == (ValidityStatus.VALID, 80)
    assert (evaluation.validity_status, evaluation.row_count) == (ValidityStatus.VALID, 50)
    model = registry.model_register(user=owner, project=project, name="fraud", tags=[], source="path",
                                    path=f"s3://{fraud_bucket}/models/fraud/model.py", integration=lake,
                                    validate=False)
    validation.model_validate(model)
    assert model.validity_status == ValidityStatus.VALID, model.validity_message
    assert model.validity_message == "Loaded and predicted 20 rows of ref."

    report = run_engine(reference=reference, evaluation=evaluation, model=model)

    # The model reproduces the label exactly (sign of amount), so a working pipeline scores AUC 1.0 on both.
    assert report["run"]["evaluation"]["rows"] == 50
    assert report["run"]["model_metrics"]["auc"] == {"reference": 1.0, "evaluation": 1.0}


def test_the_files_beside_model_py_come_along(project, owner, make_s3_integration, fraud_bucket, tmp_path):
    lake = make_s3_integration()
    model = registry.model_register(user=owner, project=project, name="fraud", tags=[], source="path",
                                    path=f"s3://{fraud_bucket}/models/fraud/model.py", integration=lake,
                                    validate=False)
    entry = sources.materialize_model(model, tmp_path)
    assert entry == tmp_path / "model.py"
    assert (tmp_path / "helpers" / "notes.txt").read_bytes() == b"beside the model"


def test_wrong_s3_credentials_give_a_clear_error(project, owner, make_s3_integration, fraud_bucket, s3_keys):
    key_id, secret = s3_keys
    right = make_s3_integration("right", key_id=key_id, secret=secret)
    wrong_secret = make_s3_integration("wrong-secret", key_id=key_id, secret="not-the-secret-0000")
    unknown_key = make_s3_integration("unknown-key", key_id="AKIAUNKNOWN000000000", secret=secret)
    uri = f"s3://{fraud_bucket}/data/ref.csv"

    assert _register_s3_dataset(project, owner, right, uri, "ok").validity_status == ValidityStatus.VALID
    for integration in (wrong_secret, unknown_key):
        dataset = _register_s3_dataset(project, owner, integration, uri, integration.name)
        assert dataset.validity_status == ValidityStatus.INVALID
        assert "S3 refused the integration's credentials" in dataset.validity_message
        assert "check the access key id and secret" in dataset.validity_message
        assert secret not in dataset.validity_message


def test_a_missing_bucket_and_a_missing_key_are_named(project, owner, make_s3_integration, fraud_bucket):
    lake = make_s3_integration()
    no_bucket = _register_s3_dataset(project, owner, lake, "s3://no-such-bucket-here/data/ref.csv", "a")
    no_key = _register_s3_dataset(project, owner, lake, f"s3://{fraud_bucket}/data/missing.csv", "b")
    assert no_bucket.validity_status == no_key.validity_status == ValidityStatus.INVALID
    assert "does not exist" in no_bucket.validity_message
    assert f"s3://{fraud_bucket}/data/missing.csv does not exist" in no_key.validity_message


def test_an_unreachable_endpoint_is_reported_as_such(project, owner, make_s3_integration, fraud_bucket):
    import socket

    with socket.socket() as probe:  # a port nobody listens on: bound, never accepted, then closed
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    lake = make_s3_integration("dead", endpoint=f"http://127.0.0.1:{dead_port}")
    dataset = _register_s3_dataset(project, owner, lake, f"s3://{fraud_bucket}/data/ref.csv")
    assert dataset.validity_status == ValidityStatus.INVALID
    assert "Cannot reach the S3 endpoint" in dataset.validity_message


def test_an_s3_path_without_an_integration_is_refused_at_registration(project, owner):
    with pytest.raises(ValidationError, match="needs an S3 integration"):
        registry.dataset_register(user=owner, project=project, name="ref", source="path", data_params={},
                                  path="s3://bucket/ref.csv", validate=False)


def test_an_empty_model_prefix_is_reported(project, owner, make_s3_integration, fraud_bucket):
    lake = make_s3_integration()
    model = registry.model_register(user=owner, project=project, name="ghost", tags=[], source="path",
                                    path=f"s3://{fraud_bucket}/models/ghost/model.py", integration=lake,
                                    validate=False)
    validation.model_validate(model)
    assert model.validity_status == ValidityStatus.INVALID
    assert f"Nothing is stored under s3://{fraud_bucket}/models/ghost/" in model.validity_message


def test_rime_variable_names_set_in_the_admin_work_as_s3_keys(workspace, owner):
    from projects.registries import integrations

    integration = integrations.integration_create(user=owner, workspace=workspace, name="raw", config={},
                                                  integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY", secrets={})
    integration.set_secrets({"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s3cr3t"})
    settings = integrations.s3_settings(integration)
    assert (settings.access_key_id, settings.secret_access_key) == ("AKIA1", "s3cr3t")
