"""Sign-in (site and admin) with back-off on failed attempts, keyed by client address and username.

Method, as django-axes (lockout parameters [["ip_address", "username"], ["ip_address"]]) and django-ratelimit key
it: failures are counted in the cache under the pair (address, username) and under the address alone. The pair gets
LOGIN_FAILURE_LIMIT failures, the address LOGIN_ADDRESS_FAILURE_LIMIT (one address trying many names); the failure
that reaches a limit locks that key for LOGIN_BACKOFF_BASE_S, and each further failure after the lock ends doubles it,
up to LOGIN_BACKOFF_MAX_S. While a key is locked the form refuses without checking the password and says when to try
again. Nothing is keyed on the username alone, so a stranger failing from address A never locks out the user who
signs in from address B. A successful sign-in clears its pair; counts are forgotten LOGIN_FAILURE_MEMORY_S after the
first attempt. Each attempt is counted atomically (rime_web/counters.py) BEFORE the password is checked: only attempts
numbered up to the limit, and then one per ended lock, are checked, so 30 simultaneous guesses get `limit` checks, not
30. Across all addresses a username gets LOGIN_USERNAME_ATTEMPTS_PER_MINUTE attempts a minute: a rate that slows a
guessing botnet, not a lock. Behind a reverse proxy set LOGIN_TRUSTED_PROXIES so the client's own address is used, not the proxy's.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError

from rime_web import counters


def _now() -> float:
    return time.time()


def client_address(request) -> str:
    """REMOTE_ADDR, or with N trusted proxies in front the address the outermost of them saw (the Nth from the
    right in X-Forwarded-For: entries further left are whatever the client chose to send)."""
    proxies = settings.LOGIN_TRUSTED_PROXIES
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies][:64]
    return request.META.get("REMOTE_ADDR", "unknown")


@dataclass(frozen=True)
class ThrottleKey:
    """One throttled key: an atomic attempt counter, and the time its current lock ends."""

    name: str
    limit: int

    @property
    def counter_key(self) -> str:
        return f"login-attempts:{self.name}"

    @property
    def lock_key(self) -> str:
        return f"login-lock:{self.name}"

    def locked_until(self) -> float:
        stored = cache.get(self.lock_key)
        return float(stored) if isinstance(stored, (int, float)) else 0.0

    def reserve(self) -> int:
        """Count this attempt before the password is checked, atomically: its number among the key's attempts."""
        return counters.increment(self.counter_key, timeout=settings.LOGIN_FAILURE_MEMORY_S)

    def release(self) -> None:
        counters.decrement(self.counter_key)

    def may_check(self, attempt: int, now: float) -> bool:
        """The first `limit` attempts are checked; past them, one attempt after each lock has ended."""
        if attempt <= self.limit:
            return True
        locked_until = self.locked_until()
        if locked_until == 0 or locked_until > now:  # locked, or the attempt that reaches the limit is still checked
            return False
        claim = f"{self.lock_key}:after:{locked_until!r}"
        return counters.increment(claim, timeout=settings.LOGIN_FAILURE_MEMORY_S) == 1

    def record_failure(self, attempt: int, now: float) -> None:
        if attempt >= self.limit:
            cache.set(self.lock_key, now + backoff_seconds(attempt - self.limit), settings.LOGIN_FAILURE_MEMORY_S)

    def clear(self) -> None:
        cache.delete_many([self.counter_key, self.lock_key])


def backoff_seconds(failures_past_limit: int) -> float:
    """BASE, 2×BASE, 4×BASE, ... capped at MAX."""
    exponent = min(failures_past_limit, 32)  # 2**32 × any base is already past any sensible cap
    return min(settings.LOGIN_BACKOFF_BASE_S * 2**exponent, settings.LOGIN_BACKOFF_MAX_S)


def throttle_keys(request, username: str) -> tuple[ThrottleKey, ThrottleKey]:
    address = client_address(request)
    name = _username(username)
    return (ThrottleKey(f"pair:{address}:{name}", settings.LOGIN_FAILURE_LIMIT),
            ThrottleKey(f"address:{address}", settings.LOGIN_ADDRESS_FAILURE_LIMIT))


def _username(username: str) -> str:
    return username.strip().lower()[:150]


def seconds_until_allowed(request, username: str, now: float) -> float:
    return max(0.0, *(key.locked_until() - now for key in throttle_keys(request, username)))


def username_rate_wait(username: str, now: float) -> float:
    """Seconds until the username's one-minute window ends once more than LOGIN_USERNAME_ATTEMPTS_PER_MINUTE
    attempts (from any address) fell in it, else 0. A rate, not a lock: the account is usable again within a minute."""
    window = int(now // 60)
    key = f"login-rate:user:{_username(username)}:{window}"
    if counters.increment(key, timeout=120) <= settings.LOGIN_USERNAME_ATTEMPTS_PER_MINUTE:
        return 0.0
    return (window + 1) * 60 - now


def retry_message(wait_s: float, now: float) -> str:
    minutes = math.ceil(wait_s / 60)
    wait = f"{minutes} minute{'s' if minutes != 1 else ''}" if wait_s > 90 else f"{math.ceil(wait_s)} seconds"
    at = datetime.fromtimestamp(now + wait_s, tz=timezone.utc).strftime("%H:%M:%S")
    return f"Too many failed sign-in attempts. Try again in {wait} (after {at} UTC)."


class RateLimitMixin:
    """Refuses while the address or the (address, username) pair is backing off, or the username is over its rate;
    counts each attempt atomically before the password is checked, so simultaneous attempts cannot all get through."""

    def clean(self):
        username = str(self.data.get("username", ""))
        now = _now()
        wait_s = seconds_until_allowed(self.request, username, now) or username_rate_wait(username, now)
        if wait_s > 0:
            raise ValidationError(retry_message(wait_s, now), code="rate_limited")
        keys = throttle_keys(self.request, username)
        attempts = [(key, key.reserve()) for key in keys]
        if not all(key.may_check(number, now) for key, number in attempts):
            for key, _ in attempts:  # not checked, so not a failure: only checked guesses lengthen the back-off
                key.release()
            wait_s = max(seconds_until_allowed(self.request, username, now), settings.LOGIN_BACKOFF_BASE_S)
            raise ValidationError(retry_message(wait_s, now), code="rate_limited")
        try:
            cleaned = super().clean()
        except ValidationError:
            for key, number in attempts:
                key.record_failure(number, now)
            raise
        pair, address = keys
        pair.clear()
        address.release()  # a success is not a failure of the address
        return cleaned


class RateLimitedAuthenticationForm(RateLimitMixin, AuthenticationForm):
    pass


class RateLimitedAdminAuthenticationForm(RateLimitMixin, AdminAuthenticationForm):
    pass


class LoginView(auth_views.LoginView):
    form_class = RateLimitedAuthenticationForm
    redirect_authenticated_user = True
