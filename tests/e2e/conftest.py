from __future__ import annotations

import pytest


@pytest.fixture
def sign_in(browser_ready, live_server, page, password):
    def sign_in_as(user):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/workspaces/")
        return page

    return sign_in_as
