"""A person's path through a finished run in a real browser: tabs, a test's chart, every download, a comparison."""
from __future__ import annotations

import csv
import io
import json

import pytest
from playwright.sync_api import expect

from stresstests.results.report import RunResults

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def download_text(page, link) -> tuple[str, str]:
    with page.expect_download() as info:
        link.click()
    download = info.value
    return download.suggested_filename, open(download.path(), encoding="utf-8").read()


def test_read_a_finished_run_download_everything_and_compare(sign_in, live_server, owner, finished_run, tmp_path,
                                                             all_categories_report, calmer_report):
    finished_run(calmer_report, name="Last week", age_minutes=60 * 24 * 7)
    run = finished_run(all_categories_report, name="Nightly fraud check")
    page = sign_in(owner)
    page.goto(f"{live_server.url}/stress-tests/{run.id}/results/")

    # Overview
    expect(page.get_by_role("heading", name="Key findings")).to_be_visible()
    expect(page.get_by_text(all_categories_report["key_findings"][0]["title"])).to_be_visible()
    expect(page.locator('canvas[data-chart="chart-breakdown"][data-drawn="true"]')).to_be_attached()

    # By Category (htmx swap, URL follows)
    tabs = page.get_by_role("navigation", name="Result views")
    tabs.get_by_role("link", name="By Category").click()
    expect(page).to_have_url(f"{live_server.url}/stress-tests/{run.id}/results/category/")
    expect(page.get_by_role("heading", name="Security risk")).to_be_visible()
    expect(page.get_by_role("heading", name="Fairness risk")).to_be_visible()
    page.get_by_label("Find tests").fill("drift")
    page.get_by_label("Severity", exact=True).select_option("alert")
    visible = page.locator("table.tests tbody tr:visible")
    expect(visible.first).to_be_visible()
    for name in visible.locator("td:first-child").all_inner_texts():
        assert "drift" in name.lower()
    page.get_by_label("Find tests").fill("")
    page.get_by_label("Severity", exact=True).select_option("")

    # By Feature
    tabs.get_by_role("link", name="By Feature").click()
    expect(page.get_by_role("rowheader", name="amount")).to_be_visible()
    expect(tabs.get_by_role("link", name="By Feature")).to_have_attribute("aria-current", "page")
    expect(tabs.get_by_role("link", name="By Feature")).to_be_focused()  # keyboard users stay on the tabs

    # Exports from the run page
    exports = page.get_by_role("group", name="Downloads")
    name, text = download_text(page, exports.get_by_role("link", name="JSON report"))
    assert name.endswith(".json") and json.loads(text) == all_categories_report
    name, text = download_text(page, exports.get_by_role("link", name="Test cases (CSV)"))
    rows = list(csv.DictReader(io.StringIO(text)))
    total_cases = sum(len(t["test_cases"]) for c in all_categories_report["categories"] for t in c["tests"])
    assert len(rows) == total_cases and {"test_type", "severity", "finding"} <= set(rows[0])
    name, html = download_text(page, exports.get_by_role("link", name="HTML report"))
    assert html.count("Chart.js v4") == 1 and "<script src=" not in html

    # The HTML report opens offline and draws its charts
    offline = tmp_path / name
    offline.write_text(html, encoding="utf-8")
    page.goto(offline.as_uri())
    expect(page.locator('canvas[data-chart="chart-breakdown"][data-drawn="true"]')).to_be_attached()

    # A test's detail with its chart, sorting and failing rows
    page.goto(f"{live_server.url}/stress-tests/{run.id}/results/category/")
    subset_f1 = RunResults(all_categories_report).test("subset_f1").raw
    page.get_by_role("link", name=subset_f1["name"], exact=True).click()
    expect(page.get_by_role("heading", name=subset_f1["name"])).to_be_visible()
    expect(page.locator("details[open] canvas[data-drawn='true']").first).to_be_visible()
    severity_header = page.get_by_role("columnheader", name="Severity")
    severity_header.get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(severity_header).to_have_attribute("aria-sort", "ascending")
    first_severity = page.locator("table.cases tbody tr").first.locator("td").nth(1)
    expect(first_severity).to_have_text("Pass")
    name, text = download_text(page, page.get_by_role("link", name="Failing rows (CSV)"))
    failing_rows = list(csv.DictReader(io.StringIO(text)))
    assert failing_rows and all(row["severity"] in ("Alert", "Warning") for row in failing_rows)
    assert {"row", "features", "subset", "amount"} <= set(failing_rows[0])

    page.goto(f"{live_server.url}/stress-tests/{run.id}/tests/outlier_substitution/")
    expect(page.locator("table.examples").first).to_contain_text("Prediction change")

    # Compare with last week's run
    page.goto(f"{live_server.url}/stress-tests/{run.id}/results/")
    page.get_by_role("link", name="Compare…").click()
    expect(page.get_by_label("Later run (compared)")).to_have_value(str(run.id))
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", name="Tests that changed severity")).to_be_visible()
    expect(page.get_by_role("heading", name="New findings")).to_be_visible()
    expect(page.get_by_role("heading", name="Resolved findings")).to_be_visible()
