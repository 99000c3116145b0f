"""Registering uploads: datasets stored in Django storage, models as files, zips and pickles, then validated."""
from __future__ import annotations

import pickle

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.registries import services as registry, sources, validation
from projects.models import ModelSource, ValidityStatus

from .conftest import uploads, zip_bytes

pytestmark = pytest.mark.django_db


def test_an_uploaded_dataset_is_stored_validated_and_read_back(project, owner, fraud_csv_upload):
    dataset = registry.dataset_register(user=owner, project=project, name="ref", source="upload",
                                        data_params={"label_col": "is_fraud", "timestamp_col": "ts"},
                                        file=fraud_csv_upload, validate=False)
    validation.dataset_validate(dataset)
    dataset.refresh_from_db()
    assert dataset.validity_status == ValidityStatus.VALID
    assert dataset.row_count == 60
    assert [c["name"] for c in dataset.schema["columns"]] == ["amount", "city", "is_fraud", "ts"]
    assert dataset.size_bytes > 0
    assert len(sources.load_dataset_frame(dataset, nrows=5)) == 5


def test_a_missing_label_column_makes_the_dataset_invalid_with_a_message(project, owner, fraud_csv_upload):
    dataset = registry.dataset_register(user=owner, project=project, name="ref", source="upload",
                                        data_params={"label_col": "label"}, file=fraud_csv_upload, validate=False)
    validation.dataset_validate(dataset)
    assert dataset.validity_status == ValidityStatus.INVALID
    assert "label_col “label” is not a column" in dataset.validity_message


def test_dataset_names_are_unique_in_a_project(project, owner, fraud_csv_upload):
    registry.dataset_register(user=owner, project=project, name="ref", source="upload", data_params={},
                              file=fraud_csv_upload, validate=False)
    with pytest.raises(ValidationError, match="already has a dataset named"):
        registry.dataset_register(user=owner, project=project, name="REF", source="upload", data_params={},
                                  file=SimpleUploadedFile("x.csv", b"a\n1\n"), validate=False)


def test_registration_queues_validation_after_commit(project, owner, fraud_csv_upload, django_capture_on_commit_callbacks,
                                                      monkeypatch):
    from projects.registries import tasks

    queued = []
    monkeypatch.setattr(tasks.validate_dataset, "delay", lambda dataset_id: queued.append(dataset_id))
    with django_capture_on_commit_callbacks(execute=True):
        dataset = registry.dataset_register(user=owner, project=project, name="ref", source="upload",
                                            data_params={}, file=fraud_csv_upload)
    assert queued == [str(dataset.id)]
    assert dataset.validity_status == ValidityStatus.PENDING


def test_a_model_py_with_artifacts_is_stored_and_materialized(project, owner, model_files, tmp_path):
    model = registry.model_register(user=owner, project=project, name="m", tags=["v1"], source="upload",
                                    files=uploads(model_files), validate=False)
    assert model.entry_point == "model.py"
    entry = sources.materialize_model(model, tmp_path / "out")
    assert entry == tmp_path / "out" / "model.py"
    assert (tmp_path / "out" / "weights.json").read_bytes() == b'{"amount": 2.0}'


def test_a_zip_of_a_folder_is_unpacked_under_the_model_prefix(project, owner, model_files, tmp_path):
    archive = zip_bytes({f"fraud_model/{name}": content for name, content in model_files.items()})
    model = registry.model_register(user=owner, project=project, name="m", tags=[], source="upload",
                                    files=[SimpleUploadedFile("fraud_model.zip", archive)], validate=False)
    entry = sources.materialize_model(model, tmp_path / "out")
    assert entry.name == "model.py" and (entry.parent / "weights.json").exists()


@pytest.mark.parametrize("bad_name", ["../evil.py", "/etc/evil.py", "a/../../evil.py", "C:/evil.py"])
def test_a_zip_with_an_escaping_path_is_refused(project, owner, model_files, bad_name):
    archive = zip_bytes({**model_files, bad_name: b"print('x')"})
    with pytest.raises(ValidationError, match="absolute path|leaves its folder"):
        registry.model_register(user=owner, project=project, name="m", tags=[], source="upload",
                                files=[SimpleUploadedFile("m.zip", archive)], validate=False)
    assert not project.models.exists()


def test_an_upload_over_the_size_cap_is_refused(project, owner, settings, model_files):
    settings.MAX_UPLOAD_BYTES = 10
    with pytest.raises(ValidationError, match="the limit is"):
        registry.model_register(user=owner, project=project, name="m", tags=[], source="upload",
                                files=uploads(model_files), validate=False)


def test_a_pickle_is_its_own_entry_point(project, owner, tmp_path):
    model = registry.model_register(user=owner, project=project, name="m", tags=[], source="upload",
                                    files=[SimpleUploadedFile("clf.pkl", pickle.dumps({"a": 1}))], validate=False)
    assert model.entry_point == "clf.pkl"
    assert sources.materialize_model(model, tmp_path).name == "clf.pkl"


def test_a_predictions_only_model_is_valid_and_has_no_artifact(project, owner, tmp_path):
    model = registry.model_register(user=owner, project=project, name="m", tags=[], source=ModelSource.NONE)
    assert model.validity_status == ValidityStatus.VALID
    assert sources.materialize_model(model, tmp_path) is None


def test_an_uploaded_model_loads_in_the_sandbox_and_predicts_a_registered_dataset(project, owner, model_files,
                                                                                  fraud_csv_upload):
    dataset = registry.dataset_register(user=owner, project=project, name="ref", source="upload",
                                        data_params={"label_col": "is_fraud", "timestamp_col": "ts",
                                                     "features_not_in_model": ["city"]},
                                        file=fraud_csv_upload, validate=False)
    validation.dataset_validate(dataset)
    model = registry.model_register(user=owner, project=project, name="m", tags=[], source="upload",
                                    files=uploads(model_files), validate=False)
    validation.model_validate(model)
    assert model.validity_status == ValidityStatus.VALID, model.validity_message
    assert model.validity_message == "Loaded and predicted 20 rows of ref."


def test_a_broken_model_is_invalid_with_the_import_error(project, owner):
    model = registry.model_register(user=owner, project=project, name="m", tags=[], source="upload",
                                    files=[SimpleUploadedFile("model.py", b"import no_such_module_xyz\n")],
                                    validate=False)
    validation.model_validate(model)
    assert model.validity_status == ValidityStatus.INVALID
    assert "no_such_module_xyz" in model.validity_message


def test_a_binary_project_refuses_a_label_with_three_classes_or_gaps(project, owner):
    csv = b"x,label\n1,0\n2,1\n3,2\n4,\n"
    dataset = registry.dataset_register(user=owner, project=project, name="ref", source="upload",
                                        data_params={"label_col": "label"}, file=SimpleUploadedFile("d.csv", csv),
                                        validate=False)
    validation.dataset_validate(dataset)
    assert dataset.validity_status == ValidityStatus.INVALID
    assert dataset.validity_message == ("Label column “label” has 1 empty values. Label column “label” has 3 distinct "
                                        "values; a binary classification project needs two (0 and 1).")
