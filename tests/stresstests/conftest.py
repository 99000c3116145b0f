from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from . import data


@pytest.fixture
def draft(project, owner):
    from stresstests import services

    return services.run_create_draft(user=owner, project=project)


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


@pytest.fixture
def registered_model(project, owner):
    from projects.registries import services as registry

    return registry.model_register(
        user=owner, project=project, name="scorer", tags=["demo"], source="upload",
        files=[upload("model.py", data.MODEL_PY.encode()), upload("weights.json", data.weights_json())], validate=False,
    )


@pytest.fixture
def registered_datasets(project, owner):
    from projects.registries import services as registry

    def register(name, frame):
        return registry.dataset_register(user=owner, project=project, name=name, source="upload",
                                         data_params={"label_col": data.LABEL},
                                         file=upload(f"{name}.csv", data.csv_bytes(frame)), validate=False)

    return register("ref", data.frame(seed=1)), register("eval", data.frame(seed=2, shift=10))


@pytest.fixture
def complete_draft(draft, owner, registered_model, registered_datasets):
    """A draft with every step done (Custom, Drift only), ready to submit."""
    from stresstests import services

    services.run_save_configuration(user=owner, run=draft, config_mode="custom",
                                    categories=["TEST_CATEGORY_TYPE_DRIFT"], name="Nightly", random_seed=7)
    services.run_set_model(user=owner, run=draft, model=registered_model)
    services.run_set_dataset(user=owner, run=draft, role="reference", dataset=registered_datasets[0])
    services.run_set_dataset(user=owner, run=draft, role="evaluation", dataset=registered_datasets[1])
    return draft
