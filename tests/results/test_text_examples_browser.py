"""Text examples in a real browser: the long text opens from the keyboard, right-to-left text runs right to left."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.results.test_text_examples import ARABIC, LONG, text_report

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_long_text_example_opens_from_the_keyboard(sign_in, live_server, owner, finished_run, drift_only_report):
    report, test_type = text_report(drift_only_report)
    run = finished_run(report)
    page = sign_in(owner)
    page.goto(f"{live_server.url}/stress-tests/{run.id}/tests/{test_type}/")
    case = page.locator("details.case").filter(has=page.locator("table.examples"))
    if case.get_attribute("open") is None:
        case.locator("summary").first.click()
    long_text = case.locator("details.long-text")
    expect(long_text.locator(".full-text")).to_be_hidden()
    expect(long_text.locator("summary")).to_contain_text(f"Show all {len(LONG)} characters")
    long_text.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(long_text.locator(".full-text")).to_have_text(LONG)
    arabic = case.get_by_text(ARABIC, exact=True)
    assert arabic.evaluate("element => getComputedStyle(element).direction") == "rtl"
    assert page.evaluate("typeof window.__injected") == "undefined"  # the example's <script> never ran
