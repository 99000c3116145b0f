"""A model's output the database refuses as it is (NUL bytes on PostgreSQL) still ends the run, shown readably."""
from __future__ import annotations

import pytest

from stresstests import services
from stresstests.execution import run_execute
from stresstests.models import RunStatus

from .conftest import register_model

pytestmark = pytest.mark.django_db

NUL_PRINTING_MODEL_PY = '''
import numpy as np

def predict_df(df):
    print("before\\x00after")
    return np.full(len(df), 0.5)
'''


def test_nul_bytes_in_the_model_s_output_are_logged_as_replacement_characters(
    owner, project, complete_draft, django_capture_on_commit_callbacks
):
    model = register_model(owner, project, "nul", NUL_PRINTING_MODEL_PY)
    services.run_set_model(user=owner, run=complete_draft, model=model)
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_submit(user=owner, run=complete_draft)
    run_execute(run.id)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert "[model stdout] before\N{REPLACEMENT CHARACTER}after" in run.log
    assert "\x00" not in run.log
