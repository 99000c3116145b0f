from __future__ import annotations

from django.urls import path

from . import views

app_name = "stresstests"

urlpatterns = [
    path("projects/<uuid:project_id>/stress-tests/", views.run_list, name="run_list"),
    path("projects/<uuid:project_id>/stress-tests/new/", views.run_create, name="run_create"),
    path("stress-tests/<uuid:run_id>/", views.run_detail, name="run_detail"),
    path("stress-tests/<uuid:run_id>/progress/", views.run_progress, name="run_progress"),
    path("stress-tests/<uuid:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("stress-tests/<uuid:run_id>/rerun/", views.run_rerun, name="run_rerun"),
    path("stress-tests/<uuid:run_id>/wizard/<slug:step>/", views.wizard_step, name="wizard_step"),
]
