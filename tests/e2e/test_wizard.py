"""The seed's browser path, end to end with a real Celery worker: Create Stress Test → live progress → summary."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.stresstests import data

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# A model that takes a moment per call, so that the progress bar can be seen moving between tests.
SLOW_MODEL_PY = data.MODEL_PY.replace("def predict_df(df):", "def predict_df(df):\n    import time; time.sleep(0.4)")
RUN_TIMEOUT_MS = 120_000
# Two shared cores: a page that checks an upload and registers it can take several seconds.
expect.set_options(timeout=20_000)


def payload(name: str, content: bytes, mime: str = "application/octet-stream") -> dict:
    return {"name": name, "mimeType": mime, "buffer": content}


def open_wizard(page: Page) -> None:
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Stress Testing").click()
    expect(page.get_by_role("heading", name="Stress Testing")).to_be_visible()
    page.get_by_role("button", name="Create Stress Test").click()
    expect(page.get_by_role("heading", name="Create Stress Test")).to_be_visible()
    expect(page.get_by_role("heading", name="Test Configuration")).to_be_visible()


def choose_custom(page: Page, categories: list[str]) -> None:
    # The swap needs htmx, a deferred script: a click that navigates only waits for the navigation to commit, and on a
    # busy machine the change event could fire before htmx listens.
    page.wait_for_load_state("load")
    page.get_by_label("Test Configuration").select_option(label="Custom")
    expect(page.get_by_text("Security Risk")).to_be_visible()  # swapped in by htmx
    for category in categories:
        page.get_by_label(category, exact=True).check()


def next_step(page: Page, heading: str) -> None:
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name=heading)).to_be_visible()


def choose_source(page: Page, label: str) -> None:
    """Clicks a source tab (an htmx swap) and waits for the swap, so nothing typed before it is lost."""
    tab = page.get_by_role("link", name=label)
    if tab.get_attribute("aria-current") == "true":
        return
    with page.expect_response(lambda response: "source=" in response.url):
        tab.click()
    expect(page.get_by_role("link", name=label)).to_have_attribute("aria-current", "true")


def record_upload_progress(page: Page) -> list[int]:
    """Collects the upload progress bar's values, across page loads (htmx reports upload progress to wizard.js)."""
    values: list[int] = []
    page.expose_function("reportUploadProgress", lambda value: values.append(value))
    page.add_init_script("""
        document.addEventListener("htmx:xhr:progress", () => setTimeout(() => {
            const bar = document.querySelector(".upload-progress:not([hidden]) progress");
            if (bar) window.reportUploadProgress(Number(bar.value));
        }));
    """)
    return values


def drop_file(page: Page, zone_label: str, name: str, content: str, mime: str) -> None:
    """Drags a file onto a drop zone, as a user dropping it from the desktop."""
    transfer = page.evaluate_handle(
        "([name, content, mime]) => { const t = new DataTransfer(); t.items.add(new File([content], name, {type: mime}));"
        " return t; }", [name, content, mime])
    zone = page.locator("[data-dropzone]").filter(has=page.get_by_label(zone_label))
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    expect(zone.get_by_role("status")).to_have_text(name)


def upload_dataset(page: Page, role: str, name: str, file: dict, predictions: dict | None = None) -> None:
    choose_source(page, "Upload a file")
    page.get_by_label("Dataset name").fill(name)
    page.get_by_label("Label column", exact=True).fill(data.LABEL)
    if file["name"].endswith(".csv"):
        drop_file(page, "Dataset file", file["name"], file["buffer"].decode(), file["mimeType"])
    else:
        page.get_by_label("Dataset file").set_input_files(file)
    if predictions:
        page.get_by_label("Predictions (optional)").check()
        page.get_by_label("Prediction column (optional)").fill("pred")
        page.get_by_label("Predictions file").set_input_files(predictions)


def watch_run_to_the_end(page: Page) -> list[float]:
    """Progress values the page showed while the run was active, until the summary appeared."""
    seen: list[float] = []
    summary = page.get_by_role("heading", name="Summary")
    for _ in range(RUN_TIMEOUT_MS // 200):
        if summary.is_visible():
            return seen
        bar = page.locator("#run-progress-bar")
        if bar.count():
            value = bar.get_attribute("value")
            if value is not None and (not seen or float(value) != seen[-1]):
                seen.append(float(value))
        page.wait_for_timeout(200)
    raise AssertionError(f"The run did not finish; the page says: {page.locator('#run-status').inner_text()}")


def test_create_stress_tests_through_the_wizard(sign_in, celery_worker_process, owner, project):
    project.stress_test_categories = ["TEST_CATEGORY_TYPE_DRIFT", "TEST_CATEGORY_TYPE_MODEL_PERFORMANCE"]
    project.save()
    reference, evaluation = data.frame(seed=1), data.frame(seed=2, shift=10)
    page = sign_in(owner)
    upload_progress = record_upload_progress(page)
    page.get_by_role("link", name="Acme").click()
    page.get_by_role("link", name="Fraud").click()

    # Pass 1: Custom categories, a model.py with its artifact, a CSV reference and a Parquet evaluation with predictions.
    open_wizard(page)
    choose_custom(page, ["Drift", "Model Performance", "Transformations"])
    next_step(page, "Model")
    page.get_by_label("Model name").fill("scorer")
    page.get_by_label("Tags").fill("demo, logistic")
    page.get_by_label("Model file").set_input_files(
        [payload("model.py", SLOW_MODEL_PY.encode(), "text/x-python"), payload("weights.json", data.weights_json())]
    )
    next_step(page, "Reference Dataset")
    assert upload_progress and upload_progress[-1] == 100, f"no upload progress was shown: {upload_progress}"
    upload_dataset(page, "reference", "reference-2024", payload("reference.csv", data.csv_bytes(reference), "text/csv"))
    next_step(page, "Evaluation Dataset")
    expect(page.get_by_text(re.compile(r"reference\.csv: 300 rows, columns age, income, city, label"))).to_be_visible()
    upload_dataset(page, "evaluation", "evaluation-2025", payload("evaluation.parquet", data.parquet_bytes(evaluation)),
                   predictions=payload("predictions.csv", data.predictions_csv(evaluation), "text/csv"))
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name=re.compile("^Status:"))).to_be_visible()
    progress = watch_run_to_the_end(page)
    assert any(0 < value < 1 for value in progress), f"the progress bar never moved: {progress}"
    expect(page.get_by_role("heading", name="Status: Succeeded")).to_be_visible()
    expect(page.get_by_role("cell", name="Drift")).to_be_visible()
    page.get_by_text("Log").click()
    expect(page.get_by_text("[model stdout] scored")).to_be_visible()

    # Pass 2: the project configuration, the registered model and datasets (with their registered predictions).
    open_wizard(page)
    next_step(page, "Model")
    page.get_by_label("scorer", exact=True).check()
    next_step(page, "Reference Dataset")
    page.get_by_label("reference-2024", exact=True).check()
    next_step(page, "Evaluation Dataset")
    page.get_by_label("evaluation-2025", exact=True).check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("(with predictions)")).to_be_visible()
    watch_run_to_the_end(page)
    expect(page.get_by_role("heading", name="Status: Succeeded")).to_be_visible()
    expect(page.get_by_role("cell", name="Model Performance")).to_be_visible()

    # Pass 3: a scikit-learn pickle.
    open_wizard(page)
    choose_custom(page, ["Model Performance"])
    next_step(page, "Model")
    choose_source(page, "Upload a model file")
    page.get_by_label("Model name").fill("pipeline")
    page.get_by_label("Model file").set_input_files(payload("pipeline.pkl", data.sklearn_pickle(reference)))
    next_step(page, "Reference Dataset")
    page.get_by_label("Search datasets").fill("2024")  # the list is searchable
    expect(page.get_by_label("evaluation-2025", exact=True)).to_be_hidden()
    page.get_by_label("reference-2024", exact=True).check()
    next_step(page, "Evaluation Dataset")
    page.get_by_label("evaluation-2025", exact=True).check()
    page.get_by_role("button", name="Next").click()
    watch_run_to_the_end(page)
    expect(page.get_by_role("heading", name="Status: Succeeded")).to_be_visible()
    expect(page.get_by_role("cell", name="Model Performance")).to_be_visible()

    # The Stress Testing list shows all three, newest first, with their severity summaries.
    page.get_by_role("link", name="All stress tests").click()
    rows = page.get_by_role("row")
    expect(rows).to_have_count(4)
    expect(rows.nth(1)).to_contain_text("Succeeded")
    expect(rows.nth(1)).to_contain_text("pipeline")
    expect(rows.nth(3)).to_contain_text("scorer")
