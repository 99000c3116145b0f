"""Issue 17 in the wizard: ranking projects name their query column on each dataset step (saved as RIME's
ranking_info.query_col, checked against the file); Data Poisoning Detection and Evasion Attack Detection are Security
Risk categories, off by default."""
from __future__ import annotations

import pytest

from projects.models import ModelTask
from stresstests.models import StressTestRun

from . import data
from .conftest import upload
from .test_wizard_steps import configure, post_upload, step_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def ranking_run(client_for, owner, project, registered_model):
    project.model_task = ModelTask.RANKING
    project.save(update_fields=["model_task"])
    from stresstests import services

    run = services.run_create_draft(user=owner, project=project)
    configure(client_for(owner), run)
    client_for(owner).post(step_url(run, "model"), {"source": "registered", "model": registered_model.id})
    run.refresh_from_db()
    return run


def test_a_ranking_dataset_upload_saves_its_query_column(client_for, owner, ranking_run):
    client = client_for(owner)
    page = client.get(step_url(ranking_run, "reference"), {"source": "upload"}).content.decode()
    assert "Query column" in page
    response = post_upload(client, ranking_run, "reference", query_col="city")
    assert response["Location"] == step_url(ranking_run, "evaluation")
    ranking_run.refresh_from_db()
    assert ranking_run.reference_dataset.data_params["ranking_info"] == {"query_col": "city"}


@pytest.mark.parametrize(("query_col", "message"), [
    ("", "This field is required."),
    ("session", "“session” is not a column of ref.csv."),
])
def test_a_ranking_upload_without_a_valid_query_column_rerenders_with_a_message(client_for, owner, ranking_run,
                                                                                query_col, message):
    response = post_upload(client_for(owner), ranking_run, "reference", query_col=query_col)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert StressTestRun.objects.get(id=ranking_run.id).reference_dataset is None


def test_other_projects_are_not_asked_for_a_query_column(client_for, owner, draft, registered_model):
    client = client_for(owner)
    configure(client, draft)
    client.post(step_url(draft, "model"), {"source": "registered", "model": registered_model.id})
    page = client.get(step_url(draft, "reference"), {"source": "upload"}).content.decode()
    assert "Query column" not in page
    post_upload(client, draft, "reference", file=upload("ref.csv", data.csv_bytes(data.frame())))
    draft.refresh_from_db()
    assert "ranking_info" not in draft.reference_dataset.data_params


def test_security_risk_lists_poisoning_and_evasion_detection_off_by_default(client_for, owner, draft):
    client = client_for(owner)
    page = client.get(step_url(draft, "configuration"), {"config_mode": "custom"}).content.decode()
    security = page[page.index("Security Risk"):]
    for name in ("Adversarial", "Data Poisoning Detection", "Evasion Attack Detection"):
        assert name in security
    response = configure(client, draft, categories=["TEST_CATEGORY_TYPE_DATA_POISONING_DETECTION",
                                                    "TEST_CATEGORY_TYPE_EVASION_ATTACK_DETECTION"])
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.config["categories"] == ["TEST_CATEGORY_TYPE_DATA_POISONING_DETECTION",
                                          "TEST_CATEGORY_TYPE_EVASION_ATTACK_DETECTION"]
    from projects.models import DEFAULT_STRESS_TEST_CATEGORIES

    assert "TEST_CATEGORY_TYPE_DATA_POISONING_DETECTION" not in DEFAULT_STRESS_TEST_CATEGORIES
