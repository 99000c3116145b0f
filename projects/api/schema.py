"""OpenAPI (drf-spectacular) pieces: the rime-api-key security scheme and stable operation ids."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "projects.authentication.ApiKeyAuthentication"
    name = "rimeApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "rime-api-key",
                "description": "An API key from the workspace's API keys page or `manage.py create_api_key`."}


class ViewNamedSchema(AutoSchema):
    """Operation ids from the view class (e.g. ProjectDetailView_get): several RIME paths share their prefixes."""

    def get_operation_id(self):
        return f"{type(self.view).__name__}_{self.method.lower()}"
