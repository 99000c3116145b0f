"""Registration queues validation on commit and a real Celery worker process records the verdict."""
from __future__ import annotations

import pytest

from projects.registries import services as registry
from projects.models import Dataset, DatasetSource, RegisteredModel, ValidityStatus
from tests.conftest import wait_until

from .conftest import put_objects

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _settled(model_class, object_id):
    row = model_class.objects.get(id=object_id)
    return row if row.validity_status != ValidityStatus.PENDING else None


def test_a_worker_validates_a_table_dataset_then_a_model_from_s3(owner, project, make_pg_integration,
                                                                 make_s3_integration, s3_endpoint, s3_bucket,
                                                                 model_files, celery_worker_process):
    warehouse = make_pg_integration()
    dataset = registry.dataset_register(user=owner, project=project, name="ref", source=DatasetSource.TABLE,
                                        data_params={"label_col": "is_fraud", "timestamp_col": "ts"},
                                        integration=warehouse, table_name="transactions")
    assert dataset.validity_status == ValidityStatus.PENDING
    dataset = wait_until(lambda: _settled(Dataset, dataset.id), timeout=90, message="dataset validation")
    assert (dataset.validity_status, dataset.row_count) == (ValidityStatus.VALID, 120), dataset.validity_message

    put_objects(s3_endpoint, s3_bucket, {f"fraud/{k}": v for k, v in model_files.items()})
    model = registry.model_register(user=owner, project=project, name="fraud", tags=[], source="path",
                                    path=f"s3://{s3_bucket}/fraud/model.py", integration=make_s3_integration())
    model = wait_until(lambda: _settled(RegisteredModel, model.id), timeout=120, message="model validation")
    assert model.validity_status == ValidityStatus.VALID, model.validity_message
    assert model.validity_message == "Loaded and predicted 20 rows of ref."
