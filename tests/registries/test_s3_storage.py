"""Uploads through Django storage when it is S3 (django-storages against the loopback S3 server)."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.registries import services as registry, sources, storage, validation
from projects.models import ValidityStatus

from .conftest import boto_client, csv_bytes, fraud_frame, uploads, zip_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def s3_default_storage(settings, s3_endpoint, s3_bucket):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": s3_bucket, "endpoint_url": s3_endpoint, "region_name": "us-east-1", "access_key": "testing",
        "secret_key": "testing", "addressing_style": "path", "location": "uploads", "file_overwrite": False}}}
    return s3_bucket


def _keys(endpoint: str, bucket: str) -> list[str]:
    listing = boto_client(endpoint).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_an_uploaded_dataset_lands_in_the_bucket_and_validates(project, owner, s3_default_storage, s3_endpoint):
    upload = SimpleUploadedFile("ref.csv.gz", __import__("gzip").compress(csv_bytes(fraud_frame(25))))
    dataset = registry.dataset_register(user=owner, project=project, name="ref", source="upload",
                                        data_params={"label_col": "is_fraud"}, file=upload, validate=False)
    assert _keys(s3_endpoint, s3_default_storage) == [f"uploads/{dataset.file.name}"]
    validation.dataset_validate(dataset)
    assert (dataset.validity_status, dataset.row_count) == (ValidityStatus.VALID, 25)


def test_an_uploaded_model_folder_is_stored_under_its_prefix_and_runs(project, owner, s3_default_storage,
                                                                      s3_endpoint, model_files, tmp_path):
    archive = zip_bytes({f"fraud/{name}": content for name, content in model_files.items()}
                        | {"fraud/lib/helper.py": b"FACTOR = 2\n"})
    model = registry.model_register(user=owner, project=project, name="m", tags=[], source="upload",
                                    files=[SimpleUploadedFile("fraud.zip", archive)], validate=False)
    prefix = f"uploads/models/{model.id}"
    assert _keys(s3_endpoint, s3_default_storage) == [f"{prefix}/lib/helper.py", f"{prefix}/model.py",
                                                      f"{prefix}/weights.json"]
    assert storage.list_files(model.storage_prefix) == ["lib/helper.py", "model.py", "weights.json"]
    entry = sources.materialize_model(model, tmp_path)
    assert (tmp_path / "lib" / "helper.py").read_bytes() == b"FACTOR = 2\n" and entry.name == "model.py"
    validation.model_validate(model)
    assert model.validity_status == ValidityStatus.VALID, model.validity_message


def test_deleting_a_model_removes_its_files_from_the_bucket(project, owner, s3_default_storage, s3_endpoint,
                                                            model_files, django_capture_on_commit_callbacks):
    model = registry.model_register(user=owner, project=project, name="m", tags=[], source="upload",
                                    files=uploads(model_files), validate=False)
    with django_capture_on_commit_callbacks(execute=True):
        registry.model_delete(user=owner, model=model)
    assert _keys(s3_endpoint, s3_default_storage) == []
