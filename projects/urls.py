from django.urls import include, path

from . import views
from .registries import urls as registry_urls

app_name = "projects"

urlpatterns = [
    path("workspaces/", views.workspace_list, name="workspace_list"),
    path("workspaces/<uuid:workspace_id>/", views.workspace_detail, name="workspace_detail"),
    path("workspaces/<uuid:workspace_id>/projects/new/", views.project_create, name="project_create"),
    path("workspaces/<uuid:workspace_id>/members/", views.members, name="members"),
    path(
        "workspaces/<uuid:workspace_id>/members/<uuid:membership_id>/role/",
        views.member_change_role,
        name="member_change_role",
    ),
    path(
        "workspaces/<uuid:workspace_id>/members/<uuid:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("projects/<uuid:project_id>/", views.project_detail, name="project_detail"),
    path("projects/<uuid:project_id>/settings/", views.project_settings, name="project_settings"),
    path("", include("projects.urls_api_keys")),
]
urlpatterns += registry_urls.urlpatterns
