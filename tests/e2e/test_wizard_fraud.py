"""Issue 14, done-when 1: RIME's fraud example files exactly as shipped, through the upload tabs, every optional field
left empty, with a real worker: the model step catches a model.py without its artifact, the evaluation step shows the
extra `timestamp` column with its one-click fix, and the run succeeds; no failed run on the way."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from stresstests.models import RunStatus, StressTestRun
from tests.conftest import ROOT
from tests.shared_data import FRAUD, require_fraud_data

from tests.e2e.test_wizard import choose_source, next_step, open_wizard

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MODEL_PY = ROOT / "examples" / "fraud" / "model.py"
# Every default category on 10,000 + 29,000 rows with CatBoost in the sandbox, on two busy shared cores.
RUN_TIMEOUT_MS = 600_000
MODEL_CHECK_TIMEOUT_MS = 120_000


def upload_model(page: Page, name: str, files: list) -> None:
    choose_source(page, "Upload a model file")
    page.get_by_label("Model name").fill(name)
    page.get_by_label("Model file").set_input_files(files)
    page.get_by_role("button", name="Next").click()


def upload_dataset(page: Page, name: str, path) -> None:
    page.get_by_label("Dataset name").fill(name)
    page.get_by_label("Label column", exact=True).fill("label")
    page.get_by_label("Dataset file").set_input_files(path)


def test_the_fraud_example_as_shipped_gets_a_succeeded_run(sign_in, celery_worker_process, owner, project):
    require_fraud_data()
    page = sign_in(owner)
    page.get_by_role("link", name="Acme").click()
    page.get_by_role("link", name="Fraud").click()
    open_wizard(page)
    next_step(page, "Model")  # From Project Configuration: the project's defaults

    # model.py without its artifact: the worker's check says so at this step, not at the last Next.
    upload_model(page, "fraud", [MODEL_PY])
    expect(page.get_by_text(re.compile("fraud failed its check.*fraud_model.catb"))).to_be_visible(
        timeout=MODEL_CHECK_TIMEOUT_MS)
    # Uploaded again under the same name, with the artifact this time: it replaces the failed one.
    expect(page.get_by_label("Model name")).to_have_value("fraud")
    page.get_by_label("Model file").set_input_files([MODEL_PY, FRAUD / "fraud_model.catb"])
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Reference Dataset")).to_be_visible(timeout=MODEL_CHECK_TIMEOUT_MS)

    choose_source(page, "Upload a file")
    upload_dataset(page, "fraud reference", FRAUD / "fraud_ref.csv")
    next_step(page, "Evaluation Dataset")
    # After an upload, the evaluation step opens on the upload tab.
    expect(page.get_by_role("link", name="Upload a file")).to_have_attribute("aria-current", "true")
    upload_dataset(page, "fraud evaluation", FRAUD / "fraud_eval.csv")
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_text("timestamp is only in the evaluation dataset and holds dates.")).to_be_visible(
        timeout=60_000)
    assert not StressTestRun.objects.exclude(status=RunStatus.DRAFT).exists()  # nothing was queued to fail
    page.get_by_role("button", name="Use timestamp as the timestamp column").click()
    expect(page.get_by_text("The two datasets have the same columns; timestamp column: timestamp")).to_be_visible()
    expect(page.get_by_text(re.compile(r"fraud loads in the sandbox and scored 20 rows of fraud reference"))
           ).to_be_visible(timeout=MODEL_CHECK_TIMEOUT_MS)
    page.get_by_role("button", name="Start the stress test").click()

    expect(page.get_by_role("heading", name=re.compile("^Status:"))).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("^Status: (Succeeded|Failed)"))).to_be_visible(
        timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Status: Succeeded")).to_be_visible()
    expect(page.get_by_role("cell", name="Drift", exact=True)).to_be_visible()
    run = StressTestRun.objects.get()
    assert run.config["data_params"]["timestamp_col"] == "timestamp"
    assert "TEST_CATEGORY_TYPE_DRIFT" in run.config["categories"]
    assert not StressTestRun.objects.filter(status=RunStatus.FAILED).exists()
