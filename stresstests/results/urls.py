from django.urls import path

from . import views

app_name = "results"

urlpatterns = [
    path("stress-tests/<uuid:run_id>/results/", views.run_results, name="run_results"),
    path("stress-tests/<uuid:run_id>/results/<slug:tab>/", views.run_results, name="run_tab"),
    path("stress-tests/<uuid:run_id>/tests/<str:test_type>/", views.test_detail, name="test_detail"),
    path("stress-tests/<uuid:run_id>/tests/<str:test_type>/failing-rows.csv", views.export_failing_rows_csv,
         name="failing_rows_csv"),
    path("stress-tests/<uuid:run_id>/features/<str:feature_id>/", views.feature_detail, name="feature_detail"),
    path("stress-tests/<uuid:run_id>/export/report.json", views.export_json, name="export_json"),
    path("stress-tests/<uuid:run_id>/export/test-cases.csv", views.export_test_cases_csv, name="export_cases_csv"),
    path("stress-tests/<uuid:run_id>/export/report.html", views.export_html, name="export_html"),
    path("projects/<uuid:project_id>/stress-tests/compare/", views.compare_runs, name="compare"),
]
