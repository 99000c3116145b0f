"""Celery jobs of the registries: validating a registered dataset, model or predictions on a worker."""
from __future__ import annotations

from celery import shared_task


# Registration validation: each task takes an id and calls the service, which records VALID/INVALID and a message
# itself; a row deleted in the meantime is simply skipped.


@shared_task(name="projects.validate_dataset", acks_late=True, soft_time_limit=900, time_limit=960)
def validate_dataset(dataset_id: str) -> str:
    from . import validation
    from projects.models import Dataset

    dataset = Dataset.objects.select_related("project", "integration").filter(id=dataset_id).first()
    return validation.dataset_validate(dataset).validity_status if dataset else "missing"


@shared_task(name="projects.validate_model", acks_late=True, soft_time_limit=900, time_limit=960)
def validate_model(model_id: str) -> str:
    from . import validation
    from projects.models import RegisteredModel

    model = RegisteredModel.objects.select_related("project", "integration").filter(id=model_id).first()
    return validation.model_validate(model).validity_status if model else "missing"


@shared_task(name="projects.validate_predictions", acks_late=True, soft_time_limit=900, time_limit=960)
def validate_predictions(predictions_id: str) -> str:
    from . import validation
    from projects.models import Predictions

    predictions = (
        Predictions.objects.select_related("model__project", "dataset", "integration").filter(id=predictions_id).first()
    )
    return validation.predictions_validate(predictions).validity_status if predictions else "missing"
