"""Sign-in (site and admin) with back-off on failed attempts, keyed by client address and username.

Method, as django-axes (lockout parameters [["ip_address", "username"], ["ip_address"]]) and django-ratelimit key
it: failures are counted in the cache under the pair (address, username) and under the address alone. The pair gets
LOGIN_FAILURE_LIMIT failures, the address LOGIN_ADDRESS_FAILURE_LIMIT (one address trying many names); the failure
that reaches a limit locks that key for LOGIN_BACKOFF_BASE_S, and each further failure after the lock ends doubles it,
up to LOGIN_BACKOFF_MAX_S. While a key is locked the form refuses without checking the password and says when to try
again. Nothing is keyed on the username alone, so a stranger failing from address A never locks out the user who
signs in from address B. A successful sign-in clears its pair; counts are forgotten LOGIN_FAILURE_MEMORY_S after the
last failure. Behind a reverse proxy set LOGIN_TRUSTED_PROXIES so the client's own address is used, not the proxy's.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError


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


@dataclass
class FailureRecord:
    failures: int = 0
    locked_until: float = 0.0


@dataclass(frozen=True)
class ThrottleKey:
    cache_key: str
    limit: int

    def load(self) -> FailureRecord:
        stored = cache.get(self.cache_key)
        return FailureRecord(**stored) if isinstance(stored, dict) else FailureRecord()

    def record_failure(self, now: float) -> None:
        record = self.load()
        record.failures += 1
        if record.failures >= self.limit:
            record.locked_until = now + backoff_seconds(record.failures - self.limit)
        cache.set(self.cache_key, asdict(record), settings.LOGIN_FAILURE_MEMORY_S)


def backoff_seconds(failures_past_limit: int) -> float:
    """BASE, 2×BASE, 4×BASE, ... capped at MAX."""
    exponent = min(failures_past_limit, 32)  # 2**32 × any base is already past any sensible cap
    return min(settings.LOGIN_BACKOFF_BASE_S * 2**exponent, settings.LOGIN_BACKOFF_MAX_S)


def throttle_keys(request, username: str) -> tuple[ThrottleKey, ThrottleKey]:
    address = client_address(request)
    name = username.strip().lower()[:150]
    return (ThrottleKey(f"login-failures:pair:{address}:{name}", settings.LOGIN_FAILURE_LIMIT),
            ThrottleKey(f"login-failures:address:{address}", settings.LOGIN_ADDRESS_FAILURE_LIMIT))


def seconds_until_allowed(request, username: str, now: float) -> float:
    return max(0.0, *(key.load().locked_until - now for key in throttle_keys(request, username)))


def retry_message(wait_s: float, now: float) -> str:
    minutes = math.ceil(wait_s / 60)
    wait = f"{minutes} minute{'s' if minutes != 1 else ''}" if wait_s > 90 else f"{math.ceil(wait_s)} seconds"
    at = datetime.fromtimestamp(now + wait_s, tz=timezone.utc).strftime("%H:%M:%S")
    return f"Too many failed sign-in attempts. Try again in {wait} (after {at} UTC)."


class RateLimitMixin:
    """Refuses while the address or the (address, username) pair is backing off; counts each failed attempt."""

    def clean(self):
        username = str(self.data.get("username", ""))
        now = _now()
        wait_s = seconds_until_allowed(self.request, username, now)
        if wait_s > 0:
            raise ValidationError(retry_message(wait_s, now), code="rate_limited")
        pair, address = throttle_keys(self.request, username)
        try:
            cleaned = super().clean()
        except ValidationError:
            for key in (pair, address):
                key.record_failure(now)
            raise
        cache.delete(pair.cache_key)
        return cleaned


class RateLimitedAuthenticationForm(RateLimitMixin, AuthenticationForm):
    pass


class RateLimitedAdminAuthenticationForm(RateLimitMixin, AdminAuthenticationForm):
    pass


class LoginView(auth_views.LoginView):
    form_class = RateLimitedAuthenticationForm
    redirect_authenticated_user = True
