"""Integrations (workspace) and registries (project) pages; included by projects/urls.py in the projects namespace."""
from __future__ import annotations

from django.urls import path

from . import views

WORKSPACE = "workspaces/<uuid:workspace_id>/integrations/"
PROJECT = "projects/<uuid:project_id>/"

urlpatterns = [
    path(WORKSPACE, views.integration_list, name="integration_list"),
    path(f"{WORKSPACE}new/<slug:type_slug>/", views.integration_create, name="integration_create"),
    path(f"{WORKSPACE}<uuid:integration_id>/edit/", views.integration_edit, name="integration_edit"),
    path(f"{WORKSPACE}<uuid:integration_id>/delete/", views.integration_delete, name="integration_delete"),
    path(f"{PROJECT}models/", views.model_list, name="model_list"),
    path(f"{PROJECT}models/new/", views.model_register, name="model_register"),
    path(f"{PROJECT}models/<uuid:model_id>/", views.model_detail, name="model_detail"),
    path(f"{PROJECT}models/<uuid:model_id>/delete/", views.model_delete, name="model_delete"),
    path(f"{PROJECT}models/<uuid:model_id>/validate/", views.model_revalidate, name="model_revalidate"),
    path(f"{PROJECT}datasets/", views.dataset_list, name="dataset_list"),
    path(f"{PROJECT}datasets/new/", views.dataset_register, name="dataset_register"),
    path(f"{PROJECT}datasets/<uuid:dataset_id>/", views.dataset_detail, name="dataset_detail"),
    path(f"{PROJECT}datasets/<uuid:dataset_id>/delete/", views.dataset_delete, name="dataset_delete"),
    path(f"{PROJECT}datasets/<uuid:dataset_id>/validate/", views.dataset_revalidate, name="dataset_revalidate"),
    path(f"{PROJECT}predictions/new/", views.predictions_register, name="predictions_register"),
]
