"""`rime-api-key` header authentication: the key belongs to one user and one workspace (RIME's API tokens)."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from .models import ApiKey, Membership, hash_api_key

API_KEY_HEADER = "rime-api-key"
# last_used_at is a hint for people, not an audit trail: one write a minute per key keeps polling cheap.
LAST_USED_RESOLUTION = timedelta(minutes=1)
INVALID_KEY_MESSAGE = "Your API key is invalid, expired or revoked. Create a new one on the workspace's API keys page."


class ApiKeyAuthentication(BaseAuthentication):
    """Sets request.user to the key's owner and request.auth to the ApiKey, whose workspace bounds every request."""

    def authenticate(self, request):
        raw_key = request.META.get("HTTP_RIME_API_KEY", "").strip()
        if not raw_key:
            return None  # no credentials: permission classes answer 401 through authenticate_header
        api_key = ApiKey.objects.select_related("user", "workspace").filter(key_hash=hash_api_key(raw_key)).first()
        if api_key is None or not api_key.is_active or not api_key.user.is_active:
            raise AuthenticationFailed(INVALID_KEY_MESSAGE)
        # A key outlives nothing: once its owner leaves the workspace, the key stops working.
        if not Membership.objects.filter(user_id=api_key.user_id, workspace_id=api_key.workspace_id).exists():
            raise AuthenticationFailed(INVALID_KEY_MESSAGE)
        _touch(api_key)
        return api_key.user, api_key

    def authenticate_header(self, request) -> str:
        # Any value makes DRF answer 401 (not 403) without credentials, which the SDK turns into "Unauthorized".
        return API_KEY_HEADER


def _touch(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(id=api_key.id).update(last_used_at=now)
        api_key.last_used_at = now
