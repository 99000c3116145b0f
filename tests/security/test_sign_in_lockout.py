"""Sign-in back-off (rime_web/auth.py) on the site and the admin sign-in: a stranger cannot lock a known user out,
repeated failures from one address wait longer each time, and the message says when to try again.

Requests come from different client addresses through REMOTE_ADDR (as the WSGI server sets it). Time is a clock the
test moves (rime_web.auth._now), never a sleep.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

STRANGER = "203.0.113.7"
USER_ADDRESS = "198.51.100.20"
T0 = datetime(2026, 12, 3, 8, 0, 0, tzinfo=timezone.utc).timestamp()
SIGN_IN_PATHS = ["/accounts/login/", "/admin/login/"]


class Clock:
    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock(T0)
    monkeypatch.setattr("rime_web.auth._now", clock)
    return clock


@pytest.fixture
def staff_owner(owner):
    owner.is_staff = True  # the admin sign-in only admits staff
    owner.save(update_fields=["is_staff"])
    return owner


def sign_in(client, path: str, username: str, password: str, address: str):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(response) -> bool:
    return response.status_code == 302


def refusal(response) -> str:
    match = re.search(r"Too many failed sign-in attempts\. Try again in [^<\n]*", response.content.decode())
    return match.group(0) if match else ""


@pytest.mark.parametrize("path", SIGN_IN_PATHS)
def test_a_stranger_failing_from_one_address_does_not_lock_out_the_user_at_another(
        client, staff_owner, password, settings, clock, path):
    for attempt in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT + 10):  # past the pair's and the address's limits
        response = sign_in(client, path, "owner", f"guess-{attempt}", STRANGER)
        assert not signed_in(response)
    assert refusal(sign_in(client, path, "owner", password, STRANGER))  # the stranger's address is held back
    assert signed_in(sign_in(client, path, "owner", password, USER_ADDRESS))


@pytest.mark.parametrize("path", SIGN_IN_PATHS)
def test_repeated_failures_from_one_address_back_off_longer_each_time(client, staff_owner, password, settings,
                                                                      clock, path):
    settings.LOGIN_BACKOFF_BASE_S, settings.LOGIN_BACKOFF_MAX_S = 60, 3600
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        sign_in(client, path, "owner", "guess", STRANGER)
    waits = [refusal(sign_in(client, path, "owner", password, STRANGER))]
    for lock_s in (60, 120, 240, 480):
        clock.advance(lock_s + 1)  # the lock has run out: one more wrong guess locks for twice as long
        assert refusal(sign_in(client, path, "owner", "guess", STRANGER)) == ""  # checked, not refused
        waits.append(refusal(sign_in(client, path, "owner", password, STRANGER)))
    assert [re.search(r"in (\d+ \w+)", wait).group(1) for wait in waits] == [
        "60 seconds", "2 minutes", "4 minutes", "8 minutes", "16 minutes"]


def test_the_back_off_stops_at_its_ceiling(client, owner, password, settings, clock):
    settings.LOGIN_BACKOFF_BASE_S, settings.LOGIN_BACKOFF_MAX_S = 60, 300
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        sign_in(client, "/accounts/login/", "owner", "guess", STRANGER)
    for _ in range(6):
        clock.advance(301)
        sign_in(client, "/accounts/login/", "owner", "guess", STRANGER)
    assert "Try again in 5 minutes" in refusal(sign_in(client, "/accounts/login/", "owner", password, STRANGER))


@pytest.mark.parametrize("path", SIGN_IN_PATHS)
def test_the_message_says_when_to_try_again_and_the_right_password_works_after(client, staff_owner, password,
                                                                                settings, clock, path):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        sign_in(client, path, "owner", "guess", USER_ADDRESS)
    clock.advance(15)
    response = sign_in(client, path, "owner", password, USER_ADDRESS)
    assert not signed_in(response) and "_auth_user_id" not in client.session
    assert refusal(response) == "Too many failed sign-in attempts. Try again in 45 seconds (after 08:01:00 UTC)."
    clock.advance(46)
    assert signed_in(sign_in(client, path, "owner", password, USER_ADDRESS))


def test_a_successful_sign_in_clears_the_count(client, owner, password, settings, clock):
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        sign_in(client, "/accounts/login/", "owner", "guess", USER_ADDRESS)
    assert signed_in(sign_in(client, "/accounts/login/", "owner", password, USER_ADDRESS))
    client.logout()
    sign_in(client, "/accounts/login/", "owner", "guess", USER_ADDRESS)  # one slip after success is not a lock
    assert signed_in(sign_in(client, "/accounts/login/", "owner", password, USER_ADDRESS))


def test_one_address_trying_many_usernames_is_held_back_for_all_of_them(client, owner, password, settings, clock):
    for number in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT):
        sign_in(client, "/accounts/login/", f"user{number}", "guess", STRANGER)  # never the same pair twice
    assert refusal(sign_in(client, "/accounts/login/", "owner", password, STRANGER))
    assert signed_in(sign_in(client, "/accounts/login/", "owner", password, USER_ADDRESS))


def test_behind_a_trusted_proxy_clients_are_told_apart_by_the_address_the_proxy_saw(client, owner, password,
                                                                                      settings, clock):
    settings.LOGIN_TRUSTED_PROXIES = 1
    proxy = "10.0.0.2"
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        # The stranger also forges a leftmost entry: only the entry the proxy appended counts.
        client.post("/accounts/login/", {"username": "owner", "password": "guess"}, REMOTE_ADDR=proxy,
                    HTTP_X_FORWARDED_FOR=f"{USER_ADDRESS}, {STRANGER}")
    response = client.post("/accounts/login/", {"username": "owner", "password": password}, REMOTE_ADDR=proxy,
                           HTTP_X_FORWARDED_FOR=USER_ADDRESS)
    assert signed_in(response)
