"""A ranking run through the worker's code path: registered pointwise model.py (sandboxed), datasets carrying
ranking_info.query_col, per-query metrics in the stored report."""
from __future__ import annotations

import pytest

from projects.models import ModelTask
from projects.registries import services as registry
from stresstests import services
from stresstests.models import RunStatus, StressTestReport
from tests.engine.test_engine_ranking import searches

from . import data
from .conftest import upload
from .test_execution import submit_and_execute

pytestmark = pytest.mark.django_db

RANKER_PY = '''
import numpy as np


def predict_df(df):
    return df["signal"].to_numpy(dtype=float)     # pointwise: one real score per row
'''


def test_a_ranking_run_executes_and_reports_per_query_metrics(owner, project, django_capture_on_commit_callbacks):
    project.model_task = ModelTask.RANKING
    project.save(update_fields=["model_task"])
    model = registry.model_register(user=owner, project=project, name="ranker", tags=[], source="upload",
                                    files=[upload("model.py", RANKER_PY.encode())], validate=False)
    params = {"label_col": "relevance", "ranking_info": {"query_col": "query"}}
    reference, evaluation = (
        registry.dataset_register(user=owner, project=project, name=name, source="upload", data_params=params,
                                  file=upload(f"{name}.csv", data.csv_bytes(frame.drop(columns=["score"]))),
                                  validate=False)
        for name, frame in (("ref", searches(60, 1)), ("eval", searches(60, 2, broken_city="Rome"))))
    run = services.run_create_draft(user=owner, project=project)
    services.run_save_configuration(user=owner, run=run, config_mode="custom", random_seed=3, name="Ranking",
                                    categories=["TEST_CATEGORY_TYPE_MODEL_PERFORMANCE",
                                                "TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE"])
    services.run_set_model(user=owner, run=run, model=model)
    services.run_set_dataset(user=owner, run=run, role="reference", dataset=reference)
    services.run_set_dataset(user=owner, run=run, role="evaluation", dataset=evaluation)

    run = submit_and_execute(owner, run, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED, run.error
    report = StressTestReport.objects.get(run=run).data
    assert report["run"]["model_task"] == "MODEL_TASK_RANKING"
    assert set(report["run"]["model_metrics"]) == {"ndcg", "mrr", "average_rank", "rank_correlation"}
    tests = {t["test_type"] for c in report["categories"] for t in c["tests"]}
    assert {"ndcg", "subset_ndcg", "subset_rank_correlation"} <= tests
