"""The REST API: RIME's /v1 routes (rime-sdk 2.13.2 works against them unchanged), our /api/v1 additions, OpenAPI.

No trailing slashes on /v1: the client never sends one and APPEND_SLASH would turn its POSTs into failures.
"""
from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from projects.api import uploads
from projects.api import views as projects_api
from projects.api.errors import not_found_view
from stresstests.api import views as stresstests_api

rime_v1 = [
    path("v1/rime-info", projects_api.RimeInfoView.as_view()),
    path("v1/feature-flags/<str:customer_name>/limits/<str:limit>", projects_api.LicenseLimitView.as_view()),
    path("v1/projects", projects_api.ProjectListView.as_view()),
    path("v1/projects/<str:project_id>", projects_api.ProjectDetailView.as_view()),
    path("v1/projects/<str:project_id>/url", projects_api.ProjectUrlView.as_view()),
    path("v1/projects/<str:project_id>/role/workspace", projects_api.ProjectRoleView.as_view()),
    path("v1-beta/integrations", projects_api.IntegrationCreateView.as_view()),
    path("v1-beta/integrations/<str:integration_id>", projects_api.IntegrationDetailView.as_view()),
    path("v1/registry/dataset", projects_api.DatasetGetView.as_view()),
    path("v1/registry/model", projects_api.ModelGetView.as_view()),
    path("v1/registry/<str:project_id>/dataset", projects_api.DatasetRegistryView.as_view()),
    path("v1/registry/<str:project_id>/model", projects_api.ModelRegistryView.as_view()),
    path("v1-beta/config-validator/<str:config_type>", stresstests_api.ConfigValidatorView.as_view()),
    path("v1/stress-tests/<str:project_id>", stresstests_api.StartStressTestView.as_view()),
    path("v1/jobs/project/<str:project_id>", stresstests_api.ProjectJobsView.as_view()),
    path("v1/jobs/cancel/<str:job_id>", stresstests_api.JobCancelView.as_view()),
    path("v1/jobs/<str:job_id>", stresstests_api.JobDetailView.as_view()),
    path("v1-beta/logs/<str:job_id>", stresstests_api.JobLogsView.as_view()),
    path("v1/test-runs", stresstests_api.TestRunListView.as_view()),
    path("v1/test-runs/<str:test_run_id>", stresstests_api.TestRunDetailView.as_view()),
    path("v1/test-cases", stresstests_api.TestCaseListView.as_view()),
    path("v1/summary-tests", stresstests_api.SummaryTestListView.as_view()),
    path("v1/category-results/<str:test_run_id>", stresstests_api.CategoryResultsView.as_view()),
    re_path(r"^v1(-beta)?/", not_found_view),
]

additions = [
    path("api/v1/uploads", uploads.UploadView.as_view(), name="api_upload"),
    path("api/v1/projects/<str:project_id>/datasets", uploads.DatasetUploadView.as_view(), name="api_dataset_upload"),
    path("api/v1/projects/<str:project_id>/models", uploads.ModelUploadView.as_view(), name="api_model_upload"),
    path("api/v1/test-runs/<str:test_run_id>/report", stresstests_api.NativeReportView.as_view(),
         name="api_native_report"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api_schema"), name="api_redoc"),
]

urlpatterns = rime_v1 + additions
