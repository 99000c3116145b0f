"""Issue 15 through the official rime-sdk client: a natural language inference project, and a text dataset
registered with data_params.text_features (premise, hypothesis), stored for the worker."""

from __future__ import annotations

import io

import pytest

from tests.api.test_api_sdk_workflow import client_with_s3

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning")]
NLI = "MODEL_TASK_NATURAL_LANGUAGE_INFERENCE"


def test_an_nli_project_registers_a_text_pair_dataset(rime_sdk, live_server, api_key, workspace,
                                                      allow_local_outbound, s3_client, s3_endpoint):
    from projects.models import Dataset, Project

    s3_client.create_bucket(Bucket="nli")
    s3_client.upload_fileobj(io.BytesIO(b'{"premise": "A man plays a guitar.", "hypothesis": "A man makes music.", '
                                        b'"label": "entailment"}\n'), "nli", "pairs.jsonl")
    client, integration_id = client_with_s3(rime_sdk, live_server.url, api_key, workspace, s3_endpoint)
    project = client.create_project(name="entailment", description="nli", model_task=NLI)
    assert Project.objects.get(id=project.project_id).model_task == NLI
    dataset_id = project.register_dataset(
        name="pairs", integration_id=integration_id,
        data_config={"connection_info": {"data_file": {"path": "s3://nli/pairs.jsonl"}},
                     "data_params": {"label_col": "label", "text_features": ["premise", "hypothesis"]}})
    assert Dataset.objects.get(id=dataset_id).data_params["text_features"] == ["premise", "hypothesis"]


def test_an_unknown_model_task_is_refused_naming_nli_among_the_supported_ones(rime_sdk, live_server, api_key):
    client = rime_sdk.Client(live_server.url, api_key)
    with pytest.raises(ValueError, match=NLI):
        client.create_project(name="x", description="d", model_task="MODEL_TASK_OBJECT_DETECTION")


def test_a_running_jobs_planned_tests_are_those_of_its_datas_modality(project):
    from stresstests.api.views import planned_tests
    from stresstests.engine.base import REGISTRY
    from tests.api.reports import finished_run

    run = finished_run(project)
    run.config = {"categories": ["TEST_CATEGORY_TYPE_DRIFT", "TEST_CATEGORY_TYPE_ABNORMAL_INPUTS"]}
    tabular = planned_tests(run)
    assert "feature_drift" in tabular and not [key for key in tabular if key.startswith("text_")]
    run.reference_dataset.data_params = {"label_col": "label", "text_features": ["text"]}
    text = planned_tests(run)
    assert {"text_vocabulary_drift", "text_empty", "prediction_drift"} <= set(text)
    assert all("text" in REGISTRY[key].modalities for key in text) and "feature_drift" not in text
