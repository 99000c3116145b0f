"""Issue 15, done-when 2: text models through the wizard in a real browser, with a real Celery worker.

1. A text `model.py` (predict_df over the text column) with jsonl text datasets: the reference step names the text
   column, the run succeeds as a text run and its pages open. Runs on this branch alone.
2. A Hugging Face folder uploaded with the folder picker (webkitdirectory, relative paths kept), jsonl text datasets,
   to a finished run whose pages show text examples (long ones behind a disclosure that opens from the keyboard).
   NEEDS THE MERGE of hfmodel15 (tests/text_models.py, the HF runtime in the sandbox) and textengine15 (the text
   categories that put examples in their cases): skipped until tests/text_models.py exists.
"""
from __future__ import annotations

import importlib.util
import re

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from stresstests.models import RunStatus, StressTestReport, StressTestRun
from tests.e2e.test_wizard import choose_custom, choose_source, next_step, open_wizard, payload

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RUN_TIMEOUT_MS = 300_000
MODEL_CHECK_TIMEOUT_MS = 120_000
expect.set_options(timeout=20_000)

TEXT_MODEL_PY = '''
import numpy as np

GOOD = {"good", "great", "wonderful", "lovely", "superb"}
BAD = {"bad", "awful", "boring", "dull", "terrible"}


def predict_df(df):
    words = df["text"].fillna("").str.lower().str.split()
    score = words.map(lambda ws: sum(w in GOOD for w in ws) - sum(w in BAD for w in ws)).to_numpy(dtype=float)
    return 1.0 / (1.0 + np.exp(-score))
'''
POSITIVE, NEGATIVE = ["good", "great", "wonderful", "lovely", "superb"], ["bad", "awful", "boring", "dull", "terrible"]
FILLER = ["the", "film", "plot", "was", "and", "acting", "music", "story", "ending", "really", "quite", "cast"]


def reviews(n: int, *, seed: int, long_share: float = 0.0) -> pd.DataFrame:
    """Short reviews (a few long ones when asked), label 1 when positive; one Arabic review among them."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(n):
        positive = bool(index % 2)
        words = list(rng.choice(FILLER, rng.integers(4, 9))) + [rng.choice(POSITIVE if positive else NEGATIVE)]
        if rng.random() < long_share:
            words += list(rng.choice(FILLER, 60))
        rows.append({"text": " ".join(words), "label": int(positive)})
    rows[0]["text"] = "كان الفيلم رائعا جدا great"
    return pd.DataFrame(rows)


def jsonl_payload(name: str, frame: pd.DataFrame) -> dict:
    return payload(name, frame.to_json(orient="records", lines=True, force_ascii=False).encode(),
                   "application/jsonl")


def text_datasets(page: Page, reference: pd.DataFrame, evaluation: pd.DataFrame) -> None:
    choose_source(page, "Upload a file")
    page.get_by_label("Dataset name").fill("reviews reference")
    page.get_by_label("Label column", exact=True).fill("label")
    page.get_by_label("Text features").fill("text")
    page.get_by_label("Dataset file").set_input_files(jsonl_payload("reviews_ref.jsonl", reference))
    next_step(page, "Evaluation Dataset")
    expect(page.get_by_text(re.compile(r"reviews_ref\.jsonl: \d+ rows, columns text, label.*Text features: text\."))
           ).to_be_visible()
    choose_source(page, "Upload a file")
    page.get_by_label("Dataset name").fill("reviews evaluation")
    page.get_by_label("Label column", exact=True).fill("label")
    page.get_by_label("Dataset file").set_input_files(jsonl_payload("reviews_eval.jsonl", evaluation))
    page.get_by_role("button", name="Next").click()


def wait_for_success(page: Page) -> StressTestRun:
    expect(page.get_by_role("heading", name=re.compile("^Status:"))).to_be_visible(timeout=60_000)
    expect(page.get_by_role("heading", name=re.compile("^Status: (Succeeded|Failed)"))).to_be_visible(
        timeout=RUN_TIMEOUT_MS)
    run = StressTestRun.objects.exclude(status=RunStatus.DRAFT).get()
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


def test_a_text_model_py_runs_from_the_wizard_on_jsonl_text_data(sign_in, celery_worker_process, owner, project):
    page = sign_in(owner)
    page.get_by_role("link", name="Acme").click()
    page.get_by_role("link", name="Fraud").click()
    open_wizard(page)
    choose_custom(page, ["Model Performance"])
    next_step(page, "Model")
    choose_source(page, "Upload a model file")
    page.get_by_label("Model name").fill("word counter")
    page.get_by_label("Model file").set_input_files(payload("model.py", TEXT_MODEL_PY.encode(), "text/x-python"))
    next_step(page, "Reference Dataset")
    text_datasets(page, reviews(300, seed=1), reviews(300, seed=2, long_share=0.3))

    run = wait_for_success(page)
    assert run.config["data_params"]["text_features"] == ["text"]
    report = StressTestReport.objects.get(run=run).data
    ran = {c["category"]: [t["test_type"] for t in c["tests"]] for c in report["categories"] if c["tests"]}
    assert {"accuracy", "auc", "f1"} <= set(ran["TEST_CATEGORY_TYPE_MODEL_PERFORMANCE"]), ran
    page.get_by_role("link", name="View results").click()
    tabs = page.get_by_role("navigation", name="Result views")
    tabs.get_by_role("link", name="By Category").click()
    expect(page.get_by_role("heading", name="Operational risk")).to_be_visible()
    expect(page.get_by_text("Model Performance").first).to_be_visible()


@pytest.mark.skipif(importlib.util.find_spec("tests.text_models") is None,
                    reason="needs the merge of hfmodel15 (tests/text_models.py, the HF runtime) and textengine15")
def test_an_uploaded_hugging_face_folder_gets_a_run_whose_pages_show_text_examples(
        sign_in, celery_worker_process, owner, project, tmp_path, live_server):
    from tests.text_models import copy_model, cached_text_classifier, sentiment_frame

    folder = copy_model(cached_text_classifier("sentiment"), tmp_path / "tiny-sentiment")
    reference = sentiment_frame(300, seed=1)
    evaluation = sentiment_frame(300, seed=2)
    # Planted in the evaluation set: much longer texts (shown cut, with a disclosure) and another script.
    evaluation.loc[:40, "text"] = evaluation.loc[:40, "text"] + " and" + " the story went on and on" * 12
    evaluation.loc[41:60, "text"] = "كان الفيلم رائعا جدا"

    page = sign_in(owner)
    page.get_by_role("link", name="Acme").click()
    page.get_by_role("link", name="Fraud").click()
    open_wizard(page)
    choose_custom(page, ["Model Performance", "Abnormal Inputs", "Subset Performance", "Drift"])
    next_step(page, "Model")
    choose_source(page, "A Hugging Face model")
    page.get_by_label("Model folder").set_input_files(folder)  # the folder picker: relative paths kept
    page.get_by_label("Class map").fill("0: negative, 1: positive")
    page.get_by_label("Ignore class names").check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Reference Dataset")).to_be_visible(timeout=MODEL_CHECK_TIMEOUT_MS)
    run_model = StressTestRun.objects.get().model
    assert run_model.name == "tiny-sentiment"
    assert run_model.model_config["hugging_face"]["class_map"] == {"0": "negative", "1": "positive"}
    text_datasets(page, reference, evaluation)

    run = wait_for_success(page)
    report = StressTestReport.objects.get(run=run).data
    with_examples = [t for c in report["categories"] for t in c["tests"]
                     if any(isinstance((e or {}).get("text"), str) for case in t["test_cases"]
                            for e in case.get("examples") or [])]
    assert with_examples, "no text test put text examples in its cases"
    # The planted long texts are cut on the page: open a test whose examples hold one.
    with_examples = [t for t in with_examples
                     if any(len(str((e or {}).get("text", ""))) > 160 for case in t["test_cases"]
                            for e in case.get("examples") or [])]
    assert with_examples, "no text test shows one of the planted long texts"
    page.goto(f"{live_server.url}/stress-tests/{run.id}/tests/{with_examples[0]['test_type']}/")
    long_text = page.locator("details.long-text").first
    case = page.locator("details:not(.long-text):has(details.long-text)").first
    if case.count() and not case.evaluate("element => element.open"):
        case.locator(":scope > summary").click()   # the case holding the long text starts closed
    expect(long_text).to_be_visible()
    expect(long_text.locator(".full-text")).to_be_hidden()
    long_text.locator("summary").focus()
    page.keyboard.press("Enter")  # opens from the keyboard
    expect(long_text.locator(".full-text")).to_be_visible()
    expect(long_text.locator(".full-text")).to_have_attribute("dir", "auto")
