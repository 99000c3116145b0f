"""A text run through the worker's code path: a registered text model.py (sandboxed), jsonl datasets whose
data_params name the text column, text test cases with example texts in the stored report."""
from __future__ import annotations

import pytest

from projects.registries import services as registry
from stresstests import services
from stresstests.models import RunStatus, StressTestReport
from tests.engine.text_helpers import LEXICON_MODEL_PY, reviews

from .conftest import upload
from .test_execution import submit_and_execute

pytestmark = pytest.mark.django_db
RUSSIAN = "Этот телефон работает отлично, батарея держит два дня."


def test_a_text_run_executes_and_reports_text_findings_with_their_texts(owner, project,
                                                                        django_capture_on_commit_callbacks):
    model = registry.model_register(user=owner, project=project, name="lexicon", tags=[], source="upload",
                                    files=[upload("model.py", LEXICON_MODEL_PY.encode())], validate=False)
    evaluation = reviews(800, 2)
    evaluation.loc[:79, "text"] = RUSSIAN
    params = {"label_col": "label", "text_features": ["text"]}
    reference, evaluation = (
        registry.dataset_register(user=owner, project=project, name=name, source="upload", data_params=params,
                                  file=upload(f"{name}.jsonl", frame.to_json(orient="records", lines=True,
                                                                             force_ascii=False).encode()),
                                  validate=False)
        for name, frame in (("ref", reviews(800, 1)), ("eval", evaluation)))
    run = services.run_create_draft(user=owner, project=project)
    services.run_save_configuration(user=owner, run=run, config_mode="custom", random_seed=3, name="Text",
                                    categories=["TEST_CATEGORY_TYPE_MODEL_PERFORMANCE",
                                                "TEST_CATEGORY_TYPE_ABNORMAL_INPUTS", "TEST_CATEGORY_TYPE_DRIFT",
                                                "TEST_CATEGORY_TYPE_DATA_CLEANLINESS"])
    services.run_set_model(user=owner, run=run, model=model)
    services.run_set_dataset(user=owner, run=run, role="reference", dataset=reference)
    services.run_set_dataset(user=owner, run=run, role="evaluation", dataset=evaluation)

    run = submit_and_execute(owner, run, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED, run.error
    report = StressTestReport.objects.get(run=run).data
    tests = {t["test_type"]: t for c in report["categories"] for t in c["tests"]}
    assert {"auc", "text_vocabulary_drift", "text_unseen_categorical", "text_empty", "text_duplicates",
            "label_imbalance"} <= set(tests)
    assert not [key for key in tests if key in ("feature_drift", "numeric_outlier", "duplicate_rows")]   # tabular
    unseen = next(c for c in tests["text_unseen_categorical"]["test_cases"] if c["features"] == ["text.script"])
    assert unseen["severity"] != "SEVERITY_PASS" and unseen["examples"][0]["text"] == RUSSIAN
