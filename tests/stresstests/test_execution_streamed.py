"""Issue 18: a run whose evaluation file is past the memory limits streams and samples it with the run's seed and
sampling size, and both the report and the run's page say how (the Celery task's body, without a worker)."""
from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.urls import reverse

from projects.registries import services as registry
from stresstests import services
from stresstests.engine.runner import sample_seed
from stresstests.execution import run_execute
from stresstests.models import RunStatus, StressTestReport

from . import data
from .conftest import upload

pytestmark = pytest.mark.django_db
ROWS, GROUP_ROWS, KEEP, BATCH = 6_000, 500, 1_500, 700


def parquet_bytes(frame) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, row_group_size=GROUP_ROWS)
    return buffer.getvalue()


@pytest.fixture
def streamed_draft(settings, project, owner, complete_draft):
    settings.DATASET_PARQUET_MAX_ROWS = 1_000          # the 6,000-row file is "too large for memory"
    settings.DATASET_STREAM_BATCH_ROWS = BATCH
    big = registry.dataset_register(user=owner, project=project, name="big-eval", source="upload",
                                    data_params={"label_col": data.LABEL},
                                    file=upload("big.parquet", parquet_bytes(data.frame(ROWS, seed=2, shift=10))),
                                    validate=False)
    services.run_set_dataset(user=owner, run=complete_draft, role="evaluation", dataset=big)
    return complete_draft


def execute(owner, run, django_capture_on_commit_callbacks, *, keep: int = KEEP):
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_submit(user=owner, run=run)
    run.config = {**run.config, "sampling": {"max_rows": keep}}
    run.save(update_fields=["config"])
    run_execute(run.id)
    run.refresh_from_db()
    return run


def test_a_run_streams_a_large_evaluation_file_with_its_seed_and_says_so(owner, client_for, streamed_draft,
                                                                        django_capture_on_commit_callbacks):
    run = execute(owner, streamed_draft, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED, run.error
    evaluation = StressTestReport.objects.get(run=run).data["run"]["evaluation"]
    assert (evaluation["rows"], evaluation["sampled_rows"]) == (ROWS, KEEP)
    streamed = evaluation["streamed"]
    assert (streamed["rows_read"], streamed["rows_kept"], streamed["method"]) == (ROWS, KEEP, "reservoir")
    assert streamed["seed"] == sample_seed(7, "evaluation") and streamed["max_rows_held"] <= KEEP + BATCH
    body = client_for(owner).get(reverse("results:run_results", args=[run.id])).content.decode()
    assert "6,000 rows read in" in body and "1,500 kept by reservoir sampling" in body


def test_separate_predictions_for_a_streamed_dataset_are_refused_with_a_reason(owner, streamed_draft,
                                                                              django_capture_on_commit_callbacks):
    evaluation = streamed_draft.evaluation_dataset
    predictions = registry.predictions_register(
        user=owner, model=streamed_draft.model, dataset=evaluation, source="upload", pred_params={"pred_col": "pred"},
        file=upload("preds.csv", data.predictions_csv(data.frame(ROWS, seed=2, shift=10))), validate=False)
    services.run_set_dataset(user=owner, run=streamed_draft, role="evaluation", dataset=evaluation,
                             predictions=predictions)
    run = execute(owner, streamed_draft, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    assert "too large for memory, so it was sampled while read" in run.error
    assert "Put the predictions in a column of the dataset (pred_col)" in run.error
