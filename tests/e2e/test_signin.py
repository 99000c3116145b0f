from __future__ import annotations

import pytest
from playwright.sync_api import expect


@pytest.mark.e2e
def test_sign_in_open_workspace_and_project_and_see_the_left_nav(sign_in, owner, project):
    page = sign_in(owner)
    page.get_by_role("link", name="Acme").click()
    expect(page.get_by_role("heading", name="Acme")).to_be_visible()
    page.get_by_role("link", name="Fraud").click()
    nav = page.get_by_role("navigation", name="Project")
    for label in ("Stress Testing", "Models", "Datasets", "Settings"):
        expect(nav.get_by_role("link", name=label)).to_be_visible()
    nav.get_by_role("link", name="Stress Testing").click()
    expect(page.get_by_role("heading", name="Stress Testing")).to_be_visible()
