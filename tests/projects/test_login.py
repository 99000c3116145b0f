from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


def test_sign_in_with_the_right_password(client, owner, password):
    response = client.post(reverse("login"), {"username": "owner", "password": password})
    assert response.status_code == 302


@pytest.mark.parametrize("url_name", ["login", "admin:login"])
def test_repeated_failures_lock_the_username_for_this_address(client, owner, password, settings, url_name):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        response = client.post(reverse(url_name), {"username": "owner", "password": "wrong"})
        assert response.status_code == 200
    response = client.post(reverse(url_name), {"username": "owner", "password": password})
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()


def test_other_usernames_are_not_locked(client, owner, make_user, password, settings):
    make_user("someone")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "owner", "password": "wrong"})
    assert client.post(reverse("login"), {"username": "someone", "password": password}).status_code == 302
