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
    path("stress-tests/<uuid:run_id>/rerun/edit/", views.run_rerun_edit, name="run_rerun_edit"),
    path("stress-tests/<uuid:run_id>/delete/", views.run_delete_draft, name="run_delete_draft"),
    path("stress-tests/<uuid:run_id>/wizard/<slug:step>/model-check/", views.wizard_model_check,
         name="wizard_model_check"),
    path("stress-tests/<uuid:run_id>/wizard/evaluation/fix/", views.wizard_fix_column, name="wizard_fix_column"),
    path("stress-tests/<uuid:run_id>/wizard/evaluation/start/", views.wizard_start, name="wizard_start"),
    path("stress-tests/<uuid:run_id>/wizard/<slug:step>/", views.wizard_step, name="wizard_step"),
]
