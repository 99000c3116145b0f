"""API-keys pages; included from projects/urls.py, so the names live in the `projects` namespace."""
from django.urls import path

from . import views_api_keys

urlpatterns = [
    path("workspaces/<uuid:workspace_id>/api-keys/", views_api_keys.api_keys, name="api_keys"),
    path(
        "workspaces/<uuid:workspace_id>/api-keys/<uuid:api_key_id>/revoke/",
        views_api_keys.api_key_revoke,
        name="api_key_revoke",
    ),
]
