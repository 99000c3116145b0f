"""Model registries, Hugging Face configurations, allow-listed server paths and predictions-only models."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from projects.registries import integrations, services as registry, sources, validation
from projects.models import DatasetSource, ModelSource, ValidityStatus

from .conftest import csv_bytes, fraud_frame, put_objects, write_folder

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_registry(workspace, owner, s3_endpoint):
    def make(artifact_root: str, name: str = "mlflow"):
        return integrations.integration_create(
            user=owner, workspace=workspace, name=name, integration_type="INTEGRATION_TYPE_MLFLOW",
            config={"artifact_root": artifact_root, "endpoint_url": s3_endpoint, "region": "us-east-1"},
            secrets={"access_key_id": "testing", "secret_access_key": "registry-secret"})

    return make


def test_a_model_from_a_registry_resolves_name_and_version_and_loads(project, owner, make_registry, s3_endpoint,
                                                                     s3_bucket, model_files, tmp_path):
    put_objects(s3_endpoint, s3_bucket, {f"registry/fraud/3/{k}": v for k, v in model_files.items()})
    put_objects(s3_endpoint, s3_bucket, {"registry/fraud/2/model.py": b"raise SystemExit('old version')"})
    make_registry(f"s3://{s3_bucket}/registry")
    model = registry.model_register_from_registry(user=owner, project=project, name="fraud v3", registry="mlflow",
                                                  model_uri="models:/fraud/3", validate=False)
    assert (model.source, model.path, model.integration.name) == (ModelSource.PATH, "models:/fraud/3", "mlflow")
    entry = sources.materialize_model(model, tmp_path)
    assert entry == tmp_path / "model.py"
    assert (tmp_path / "weights.json").exists()
    validation.model_validate(model)
    assert model.validity_status == ValidityStatus.VALID, model.validity_message


def test_a_registry_lookup_refuses_escaping_paths_and_unknown_registries(project, owner, make_registry):
    make_registry("s3://bucket/registry")
    with pytest.raises(ValidationError, match="leaves its folder"):
        registry.model_register_from_registry(user=owner, project=project, name="x", registry="mlflow",
                                              model_uri="../other-team/model/", validate=False)
    with pytest.raises(ValidationError, match="no MLflow integration named “nope”"):
        registry.model_register_from_registry(user=owner, project=project, name="x", registry="nope",
                                              model_uri="models:/fraud/1")


def test_a_missing_registry_version_is_reported(project, owner, make_registry, s3_bucket):
    make_registry(f"s3://{s3_bucket}/registry")
    model = registry.model_register_from_registry(user=owner, project=project, name="x", registry="mlflow",
                                                  model_uri="models:/fraud/9", validate=False)
    validation.model_validate(model)
    assert model.validity_status == ValidityStatus.INVALID
    assert f"Nothing is stored under s3://{s3_bucket}/registry/fraud/9/" in model.validity_message


def test_a_hugging_face_configuration_is_stored_checked_and_without_a_hub_not_loadable(project, owner, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = registry.model_register(
        user=owner, project=project, name="nli", tags=[], source=ModelSource.HUGGING_FACE, validate=False,
        model_config={"model_uri": "cross-encoder/nli-deberta-v3-base",
                      "kwargs": '{"tokenizer_uri": "cross-encoder/nli-deberta-v3-base", "class_map": '
                                '{"0": "contradiction", "1": "entailment", "2": "neutral"}, "ignore_class_names": true}'})
    assert model.model_config == {"hugging_face": {
        "model_uri": "cross-encoder/nli-deberta-v3-base", "tokenizer_uri": "cross-encoder/nli-deberta-v3-base",
        "class_map": {"0": "contradiction", "1": "entailment", "2": "neutral"}, "ignore_class_names": True}}
    validation.model_validate(model)
    assert model.validity_status == ValidityStatus.INVALID
    assert "no model hub is reachable from this server (HF_HUB_OFFLINE is set)" in model.validity_message


@pytest.mark.parametrize("config, field", [
    ({"model_uri": "not a model id!"}, "model_uri"),
    ({"model_uri": "org/m", "class_map": {"0": "a", "2": "c"}}, "class_map"),
    ({"model_uri": "org/m", "class_map": ["a", "b"]}, "class_map"),
    ({"model_uri": "org/m", "revision": "main"}, "model_config"),
])
def test_a_malformed_hugging_face_configuration_is_refused(project, owner, config, field):
    with pytest.raises(ValidationError) as caught:
        registry.model_register(user=owner, project=project, name="x", tags=[], source=ModelSource.HUGGING_FACE,
                                model_config=config, validate=False)
    assert field in caught.value.message_dict


def test_server_paths_are_read_only_inside_the_allow_list(project, owner, settings, tmp_path, model_files):
    allowed = tmp_path / "shared-data"
    write_folder(allowed, {"ref.csv": csv_bytes(fraud_frame(30))})
    write_folder(allowed / "fraud_model", model_files)
    (tmp_path / "private.csv").write_bytes(b"a\n1\n")
    (allowed / "sneaky.csv").symlink_to(tmp_path / "private.csv")
    settings.DATA_PATH_ALLOWLIST = [allowed]

    dataset = registry.dataset_register(user=owner, project=project, name="ref", source=DatasetSource.PATH,
                                        data_params={"label_col": "is_fraud"}, path=str(allowed / "ref.csv"),
                                        validate=False)
    assert validation.dataset_validate(dataset).row_count == 30
    model = registry.model_register(user=owner, project=project, name="m", tags=[], source=ModelSource.PATH,
                                    path=str(allowed / "fraud_model" / "model.py"), validate=False)
    assert sources.materialize_model(model, tmp_path / "out") == tmp_path / "out" / "model.py"
    for outside in (str(tmp_path / "private.csv"), str(allowed / "sneaky.csv"), str(allowed / ".." / "private.csv"),
                    "/etc/passwd"):
        with pytest.raises(ValidationError, match="outside the folders this server may read from"):
            registry.dataset_register(user=owner, project=project, name="x", source=DatasetSource.PATH,
                                      data_params={}, path=outside, validate=False)


def test_a_model_folder_copy_does_not_follow_links_out_of_the_allow_list(project, owner, settings, tmp_path,
                                                                         model_files):
    """The allow-list is checked on the folder; a link inside it to another tenant's files (or the server's own) is
    not copied into the model."""
    allowed = tmp_path / "shared-data"
    write_folder(allowed / "fraud_model", model_files)
    secret = write_folder(tmp_path / "other-tenant", {"weights.bin": b"another workspace's model"})
    (allowed / "fraud_model" / "stolen.bin").symlink_to(secret / "weights.bin")
    (allowed / "fraud_model" / "stolen_dir").symlink_to(secret, target_is_directory=True)
    settings.DATA_PATH_ALLOWLIST = [allowed]
    model = registry.model_register(user=owner, project=project, name="m", tags=[], source=ModelSource.PATH,
                                    path=str(allowed / "fraud_model" / "model.py"), validate=False)
    out = tmp_path / "out"
    assert sources.materialize_model(model, out) == out / "model.py"
    assert not (out / "stolen.bin").exists() and not (out / "stolen_dir").exists()
    assert not any(p.read_bytes() == b"another workspace's model" for p in out.rglob("*") if p.is_file())


def test_predictions_for_a_model_and_dataset_pair_are_unique_and_checked(project, owner, fraud_csv_upload):
    from django.core.files.uploadedfile import SimpleUploadedFile

    dataset = registry.dataset_register(user=owner, project=project, name="ref", source="upload",
                                        data_params={"label_col": "is_fraud"}, file=fraud_csv_upload, validate=False)
    validation.dataset_validate(dataset)
    model = registry.model_register(user=owner, project=project, name="m", tags=[], source=ModelSource.NONE)
    scores = "score\n" + "\n".join("0.5" for _ in range(60)) + "\n"
    predictions = registry.predictions_register(user=owner, model=model, dataset=dataset, source="upload",
                                                pred_params={"pred_col": "score"},
                                                file=SimpleUploadedFile("p.csv", scores.encode()), validate=False)
    assert validation.predictions_validate(predictions).validity_status == ValidityStatus.VALID
    with pytest.raises(ValidationError, match="already has predictions for ref"):
        registry.predictions_register(user=owner, model=model, dataset=dataset, source="upload", pred_params={},
                                      file=SimpleUploadedFile("p.csv", b"score\n1\n"), validate=False)


def test_predictions_with_the_wrong_row_count_are_invalid(project, owner, fraud_csv_upload):
    from django.core.files.uploadedfile import SimpleUploadedFile

    dataset = registry.dataset_register(user=owner, project=project, name="ref", source="upload", data_params={},
                                        file=fraud_csv_upload, validate=False)
    validation.dataset_validate(dataset)
    model = registry.model_register(user=owner, project=project, name="m", tags=[], source=ModelSource.NONE)
    predictions = registry.predictions_register(user=owner, model=model, dataset=dataset, source="upload",
                                                pred_params={}, file=SimpleUploadedFile("p.csv", b"score\n1\n"),
                                                validate=False)
    validation.predictions_validate(predictions)
    assert predictions.validity_status == ValidityStatus.INVALID
    assert predictions.validity_message == "1 predictions for 60 dataset rows; give one per row."


def test_a_sqlite_database_is_read_only_from_an_allow_listed_folder(project, owner, workspace, settings, tmp_path):
    import sqlite3

    allowed = tmp_path / "dbs"
    allowed.mkdir()
    with sqlite3.connect(allowed / "scores.db") as db:
        db.execute("CREATE TABLE rows (x INTEGER, label INTEGER)")
        db.executemany("INSERT INTO rows VALUES (?, ?)", [(i, i % 2) for i in range(10)])
    settings.DATA_PATH_ALLOWLIST = [allowed]
    local = integrations.integration_create(user=owner, workspace=workspace, name="local", config={
        "dialect": "sqlite", "sqlite_path": str(allowed / "scores.db")}, integration_type="INTEGRATION_TYPE_SQL",
        secrets={})
    assert len(sources.read_table(local, "rows")) == 10
    settings.DATA_PATH_ALLOWLIST = [tmp_path / "elsewhere"]
    with pytest.raises(sources.SourceError, match="outside the folders"):
        sources.read_table(local, "rows")
