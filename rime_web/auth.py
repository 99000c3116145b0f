"""Sign-in with a limit on failed attempts per client address and username."""
from __future__ import annotations

import math

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError


def _client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "unknown")


def _key(request, username: str) -> str:
    return f"login-failures:{_client_address(request)}:{username.strip().lower()[:150]}"


class RateLimitMixin:
    """Counts failed sign-ins in the cache; past the limit the form refuses without checking the password."""

    def clean(self):
        username = self.data.get("username", "")
        key = _key(self.request, username)
        failures = cache.get(key, 0)
        if failures >= settings.LOGIN_FAILURE_LIMIT:
            minutes = math.ceil(settings.LOGIN_FAILURE_WINDOW_S / 60)
            raise ValidationError(
                f"Too many failed sign-in attempts. Try again in {minutes} minutes.", code="rate_limited"
            )
        try:
            return super().clean()
        except ValidationError:
            cache.set(key, failures + 1, settings.LOGIN_FAILURE_WINDOW_S)
            raise


class RateLimitedAuthenticationForm(RateLimitMixin, AuthenticationForm):
    pass


class RateLimitedAdminAuthenticationForm(RateLimitMixin, AdminAuthenticationForm):
    pass


class LoginView(auth_views.LoginView):
    form_class = RateLimitedAuthenticationForm
    redirect_authenticated_user = True
