"""Sign-in back-off under simultaneous attempts (rime_web/auth.py, rime_web/counters.py), against the real cache.

The outside tester's race.py sent 30 wrong passwords at once and all 30 were checked: the back-off read the failure
count, checked the password, and only then recorded the failure. Here 30 threads post at once, each through the real
view and form; the real `authenticate` is only held at a gate until every thread has either reached it or been
refused, which makes "all at once" deterministic. Nothing sleeps: the main thread polls for the state.
"""
from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test import Client

from tests.security.test_sign_in_lockout import STRANGER, T0, USER_ADDRESS, Clock, refusal, signed_in

ATTEMPTS = 30


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock(T0)
    monkeypatch.setattr("rime_web.auth._now", clock)
    return clock


class Gate:
    """Wraps the real authenticate: counts the attempts that reach it and holds them until released."""

    def __init__(self, real):
        self.real = real
        self.checked = 0
        self.done = 0
        self.lock = threading.Lock()
        self.open = threading.Event()

    def __call__(self, *args, **kwargs):
        with self.lock:
            self.checked += 1
        assert self.open.wait(timeout=120), "the gate was never opened"
        return self.real(*args, **kwargs)

    def finished(self) -> None:
        with self.lock:
            self.done += 1

    def settled(self, total: int) -> bool:
        """Every attempt is either waiting at the gate or already answered (refused without a check)."""
        with self.lock:
            return self.checked + self.done >= total


def post_at_once(gate: Gate, username: str, addresses: list[str]) -> list:
    responses: list = [None] * len(addresses)

    def attempt(index: int) -> None:
        try:
            responses[index] = Client().post("/accounts/login/", {"username": username, "password": f"wrong-{index}"},
                                             REMOTE_ADDR=addresses[index])
        finally:
            gate.finished()
            connection.close()

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(len(addresses))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while not gate.settled(len(addresses)) and time.monotonic() < deadline:
        time.sleep(0.01)  # polling for a state, not waiting a fixed time
    gate.open.set()
    for thread in threads:
        thread.join(timeout=120)
    return responses


@pytest.fixture
def gate(monkeypatch) -> Gate:
    from django.contrib.auth import forms

    gate = Gate(forms.authenticate)
    monkeypatch.setattr(forms, "authenticate", gate)
    return gate


@pytest.mark.django_db(transaction=True)
def test_thirty_simultaneous_wrong_passwords_get_only_the_limit_of_checks(owner, password, settings, clock, gate):
    settings.LOGIN_USERNAME_ATTEMPTS_PER_MINUTE = 1000  # this test is about the per-address limits
    responses = post_at_once(gate, "owner", [STRANGER] * ATTEMPTS)
    assert gate.checked == settings.LOGIN_FAILURE_LIMIT
    assert not any(signed_in(response) for response in responses)
    assert sum(bool(refusal(response)) for response in responses) == ATTEMPTS - settings.LOGIN_FAILURE_LIMIT
    # The five checked failures locked the pair for the base back-off; the real user elsewhere is unaffected.
    assert "Try again in 60 seconds" in refusal(Client().post("/accounts/login/", {"username": "owner",
                                                              "password": password}, REMOTE_ADDR=STRANGER))
    assert signed_in(Client().post("/accounts/login/", {"username": "owner", "password": password},
                                   REMOTE_ADDR=USER_ADDRESS))


@pytest.mark.django_db(transaction=True)
def test_a_username_guessed_from_many_addresses_is_slowed_to_its_rate_not_locked(owner, password, settings, clock,
                                                                                 gate):
    settings.LOGIN_USERNAME_ATTEMPTS_PER_MINUTE = 10
    gate.open.set()  # no need to hold anyone: the rate is per minute of the (test's) clock
    botnet = [f"203.0.113.{number}" for number in range(1, 16)]
    responses = [Client().post("/accounts/login/", {"username": "owner", "password": "guess"}, REMOTE_ADDR=address)
                 for address in botnet]
    assert gate.checked == 10
    assert "Try again in 60 seconds" in refusal(responses[-1])
    assert not signed_in(Client().post("/accounts/login/", {"username": "owner", "password": password},
                                       REMOTE_ADDR=USER_ADDRESS))  # within the same minute: slowed
    clock.advance(60)  # the next minute: the account was never locked
    assert signed_in(Client().post("/accounts/login/", {"username": "owner", "password": password},
                                   REMOTE_ADDR=USER_ADDRESS))
