"""Issue 17: the generic test page renders each new tabular test, with its finding, metrics and examples."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from django.urls import reverse

from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.runner import run_stress_test
from tests.engine.data_side_helpers import LABEL, PREDICTION, mixed_data
from tests.engine.test_engine_ranking import searches

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def security_report() -> dict:
    """Flipped labels, a query burst, a moved embedding and a broken dependence, planted in one evaluation set."""
    rng = np.random.default_rng(0)
    reference = mixed_data(3000, 1)
    reference[["e0", "e1", "e2", "e3"]] = rng.normal(0, 1, (len(reference), 4)) + np.r_[2.0, 0, 0, 0]
    reference["ts"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.permutation(len(reference)), unit="min")
    evaluation = reference.sample(frac=0.5, random_state=1).reset_index(drop=True)
    evaluation["e1"] += 1.5                                                   # the embedding moved
    evaluation["country"] = rng.permutation(evaluation["country"].to_numpy())  # city no longer tells country
    flipped = reference.sample(12, random_state=2).assign(**{LABEL: lambda f: 1 - f[LABEL]})
    burst = evaluation.iloc[[0] * 80].reset_index(drop=True)
    burst["income"] = burst["income"] * (1 + rng.normal(0, 0.001, 80))
    burst["ts"] = pd.Timestamp("2026-02-01") + pd.to_timedelta(np.arange(80), unit="s")
    evaluation = pd.concat([evaluation, flipped, burst], ignore_index=True)
    return run_stress_test(
        reference=reference, evaluation=evaluation,
        config=RunConfig.from_dict({"categories": ["TEST_CATEGORY_TYPE_DATA_POISONING_DETECTION",
                                                   "TEST_CATEGORY_TYPE_EVASION_ATTACK_DETECTION", "drift"]}),
        data_params=DataParams(label_col=LABEL, pred_col=PREDICTION, timestamp_col="ts",
                               embeddings=[{"name": "profile", "cols": ["e0", "e1", "e2", "e3"]}]),
        model_task="MODEL_TASK_BINARY_CLASSIFICATION")


@pytest.fixture(scope="module")
def ranking_report() -> dict:
    return run_stress_test(
        reference=searches(200, 1), evaluation=searches(200, 2, broken_city="Rome"),
        config=RunConfig.from_dict({"categories": ["subset_performance"]}),
        data_params=DataParams(label_col="relevance", pred_col="score", ranking_info={"query_col": "query"}),
        model_task="MODEL_TASK_RANKING")


@pytest.mark.parametrize(("test_type", "expected"), [
    ("exact_match_label_flipping", ["Label Flipping Detection (Exact Match)", "12 evaluation row(s) repeat a reference row"]),
    ("near_match_label_flipping", ["Label Flipping Detection (Near Match)", "possible label flipping"]),
    ("stateful_black_box_detection", ["Stateful Black Box Evasion Detection", "query-based evasion attack"]),
    ("embedding_drift", ["Embedding Drift", "Embedding profile has drifted"]),
    ("mutual_information_feat_drift", ["Mutual Information Drift (Feature-to-Feature)", "city and country fell"]),
])
def test_the_test_page_shows_the_new_tests_findings(client_for, owner, finished_run, security_report, test_type,
                                                    expected):
    run = finished_run(security_report)
    response = client_for(owner).get(reverse("results:test_detail", args=[run.id, test_type]))
    assert response.status_code == 200
    page = response.content.decode()
    for text in expected:
        assert text in page, text


def test_the_run_page_lists_the_security_detection_categories(client_for, owner, finished_run, security_report):
    run = finished_run(security_report)
    page = client_for(owner).get(reverse("results:run_tab", args=[run.id, "category"])).content.decode()
    assert "Data Poisoning Detection" in page and "Evasion Attack Detection" in page


def test_the_test_page_shows_a_ranking_subset_test(client_for, owner, finished_run, ranking_report):
    run = finished_run(ranking_report)
    page = client_for(owner).get(reverse("results:test_detail", args=[run.id, "subset_rank_correlation"])
                                 ).content.decode()
    assert "Subset Rank Correlation" in page
    assert "city = Rome" in page
