"""Issue 16, done-when 3: a run started from the wizard on a text project shows Transformations, Adversarial and Bias
and Fairness on its pages and in its exports (real browser, live_server, real Celery worker).

The wizard walk takes Custom with the three perturbing categories and no protected feature (a text run needs none:
its Bias and Fairness swaps words in the text), a text `model.py` that reads opinion words only in lower case and
marks down texts that say "she" (so upper-casing and the masculine-to-feminine swap flip its predictions), and jsonl
reviews that mention "he". The finished run's results page lists the categories with their tests; the upper-case
test's page shows an original/perturbed diff; the failing-rows CSV, the JSON report and the offline HTML report hold
the perturbed (upper-cased) text.
"""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from stresstests.models import StressTestReport
from tests.e2e.test_wizard import choose_custom, choose_source, next_step, open_wizard, payload
from tests.e2e.test_wizard_text import text_datasets, wait_for_success

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=20_000)

CATEGORIES = {"TEST_CATEGORY_TYPE_TRANSFORMATIONS": "Transformations", "TEST_CATEGORY_TYPE_ADVERSARIAL": "Adversarial",
              "TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS": "Bias and Fairness"}

# Opinion words count only as written in lower case (upper-casing hides them), and "she" costs a lot.
CASE_SENSITIVE_MODEL_PY = '''
import numpy as np

GOOD = {"good", "great", "wonderful", "lovely", "superb"}
BAD = {"bad", "awful", "boring", "dull", "terrible"}


def predict_df(df):
    words = df["text"].fillna("").str.split()
    score = words.map(lambda ws: 3 * (sum(w in GOOD for w in ws) - sum(w in BAD for w in ws))
                      - 4 * sum(w.lower() == "she" for w in ws) - 0.5).to_numpy(dtype=float)
    return 1.0 / (1.0 + np.exp(-score))
'''
POSITIVE, NEGATIVE = ["good", "great", "wonderful", "lovely", "superb"], ["bad", "awful", "boring", "dull", "terrible"]
FILLER = ["the", "film", "plot", "was", "and", "acting", "music", "story", "ending", "really", "quite", "cast"]


def reviews(n: int, *, seed: int) -> pd.DataFrame:
    """Reviews that say what "he" thought, label 1 when positive."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(n):
        positive = bool(index % 2)
        words = ["he", "said", *rng.choice(FILLER, rng.integers(3, 7)), rng.choice(POSITIVE if positive else NEGATIVE)]
        rows.append({"text": " ".join(words), "label": int(positive)})
    return pd.DataFrame(rows)


def fetch(page: Page, url: str) -> str:
    """A download of the signed-in session (the page's cookies), as text."""
    response = page.request.get(url)
    assert response.ok, f"{url}: {response.status}"
    return response.text()


def test_a_wizard_run_on_a_text_project_shows_the_perturbing_categories_on_its_pages_and_in_its_exports(
        sign_in, celery_worker_process, owner, project, live_server):
    page = sign_in(owner)
    page.get_by_role("link", name="Acme").click()
    page.get_by_role("link", name="Fraud").click()
    open_wizard(page)
    choose_custom(page, list(CATEGORIES.values()))
    next_step(page, "Model")
    choose_source(page, "Upload a model file")
    page.get_by_label("Model name").fill("case-sensitive word counter")
    page.get_by_label("Model file").set_input_files(payload("model.py", CASE_SENSITIVE_MODEL_PY.encode(),
                                                            "text/x-python"))
    next_step(page, "Reference Dataset")
    text_datasets(page, reviews(300, seed=1), reviews(300, seed=2))   # no protected feature is named anywhere

    run = wait_for_success(page)
    assert not run.config["data_params"].get("protected_features")
    report = StressTestReport.objects.get(run=run).data
    ran = {c["category"]: {t["test_type"]: t for t in c["tests"]} for c in report["categories"]}
    assert set(CATEGORIES) <= set(ran), sorted(ran)
    upper = ran["TEST_CATEGORY_TYPE_TRANSFORMATIONS"]["text_upper_case"]
    swap = ran["TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"]["text_swap_masc_to_fem"]
    assert upper["status"] == "completed" and upper["severity"] != "SEVERITY_PASS", upper["severity"]
    assert swap["status"] == "completed" and swap["severity"] != "SEVERITY_PASS", swap["severity"]
    completed_attacks = [t for t in ran["TEST_CATEGORY_TYPE_ADVERSARIAL"].values() if t["status"] == "completed"]
    assert completed_attacks, "no adversarial test ran"
    perturbed = next(e["perturbed"] for case in upper["test_cases"] for e in case.get("examples") or []
                     if e.get("perturbed"))
    assert perturbed == perturbed.upper() and "HE SAID" in perturbed

    # The results page lists each category with its tests.
    page.get_by_role("link", name="View results").click()
    page.get_by_role("navigation", name="Result views").get_by_role("link", name="By Category").click()
    for key, label in CATEGORIES.items():
        expect(page.get_by_text(label, exact=True).first).to_be_visible()
    for test in (upper, swap, completed_attacks[0]):
        expect(page.get_by_role("link", name=test["name"], exact=True).first).to_be_visible()

    # A test's page: the original and the perturbed text side by side, the change marked.
    page.get_by_role("link", name=upper["name"], exact=True).first.click()
    expect(page.get_by_role("heading", name=upper["name"])).to_be_visible()
    diff = page.locator(".text-diff").first
    expect(diff).to_be_visible()
    expect(diff.locator(".text-diff-line")).to_have_count(2)
    expect(diff.locator(".text-diff-line").nth(1)).to_contain_text("HE SAID")
    expect(diff.locator("ins, mark, del").first).to_be_attached()

    # The exports: the test's failing rows (CSV), the JSON report and the offline HTML report.
    base = f"{live_server.url}/stress-tests/{run.id}"
    rows = list(csv.DictReader(io.StringIO(fetch(page, f"{base}/tests/text_upper_case/failing-rows.csv"))))
    assert any(row.get("perturbed") == perturbed for row in rows), rows[:3]
    exported = json.loads(fetch(page, f"{base}/export/report.json"))
    exported_tests = {t["test_type"] for c in exported["categories"] for t in c["tests"]}
    assert {"text_upper_case", "text_swap_masc_to_fem"} <= exported_tests
    assert perturbed in json.dumps(exported, ensure_ascii=False)
    offline = fetch(page, f"{base}/export/report.html")
    for label in CATEGORIES.values():
        assert label in offline
    page.set_content(offline)   # the file as a reader opens it: the diff's pieces read back as the perturbed text
    expect(page.locator(".text-diff-line", has_text=perturbed).first).to_be_attached()
