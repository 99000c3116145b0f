"""Issue 17 through the official rime-sdk client: a ranking project, and a dataset registered with RIME's
ranking_info.query_col, which is stored for the worker and read back in the client's shape."""
from __future__ import annotations

import io

import pytest

from tests.api.test_api_sdk_workflow import client_with_s3

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning")]
RANKING = "MODEL_TASK_RANKING"


def test_a_ranking_project_registers_a_dataset_with_its_query_column(rime_sdk, live_server, api_key, workspace,
                                                                     allow_local_outbound,
                                                                     s3_client, s3_endpoint):
    from projects.models import Dataset, Project

    s3_client.create_bucket(Bucket="ranking")
    s3_client.upload_fileobj(io.BytesIO(b"query,signal,relevance\nq1,0.5,1\nq1,0.1,0\nq2,0.9,2\n"), "ranking",
                             "searches.csv")
    client, integration_id = client_with_s3(rime_sdk, live_server.url, api_key, workspace, s3_endpoint)
    project = client.create_project(name="search", description="ranking", model_task=RANKING)
    assert Project.objects.get(id=project.project_id).model_task == RANKING
    dataset_id = project.register_dataset(
        name="searches", integration_id=integration_id,
        data_config={"connection_info": {"data_file": {"path": "s3://ranking/searches.csv"}},
                     "data_params": {"label_col": "relevance", "ranking_info": {"query_col": "query"}}})
    assert Dataset.objects.get(id=dataset_id).data_params["ranking_info"] == {"query_col": "query"}
    [listed] = list(project.list_datasets())
    assert listed["data_info"]["data_params"]["ranking_info"]["query_col"] == "query"   # the client's own parse


def test_an_unknown_model_task_is_refused_with_the_supported_ones(rime_sdk, live_server, api_key):
    client = rime_sdk.Client(live_server.url, api_key)
    with pytest.raises(ValueError, match="MODEL_TASK_RANKING"):
        client.create_project(name="x", description="d", model_task="MODEL_TASK_OBJECT_DETECTION")
