"""RIME's stress-test, job and result endpoints (contract §6.9–6.17), plus the native JSON report."""
from __future__ import annotations

import logging

from django.http import Http404
from django.urls import NoReverseMatch, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from projects.api.access import (
    RimeApiView,
    dataset_in_scope,
    model_in_scope,
    project_in_scope,
    scoped_workspace_ids,
)
from projects.api.views import RIME_SCHEMA, require
from projects.api.wire import json_field, page_body, page_request, parse_uuid, snake_keys, uuid_value
from projects.authentication import ApiKeyAuthentication
from projects.selectors import check_role, membership_for
from stresstests import presence
from stresstests.models import RunStatus, StressTestReport, StressTestRun

from . import messages

logger = logging.getLogger(__name__)
USER_DATA_KEYS = frozenset({"individual_tests_config", "experimental_fields"})


# --- configuration ------------------------------------------------------------------------------------------------------


def normalise_test_run_config(raw) -> dict:
    """The user's test_run_config as RIME's snake_case dict: the client sends it as typed, in either casing, with
    model_id as {"uuid"} and individual_tests_config / custom_tests JSON-encoded (contract §8, §6.10)."""
    if not isinstance(raw, dict):
        raise ValidationError("testRunConfig must be an object.")
    config = snake_keys(raw, keep_below=USER_DATA_KEYS)
    for key in ("data_info", "test_suite_config", "run_time_info", "profiling_config"):
        if config.get(key) is not None and not isinstance(config[key], dict):
            raise ValidationError(f"testRunConfig.{key} must be an object.")
    if "model_id" in config:
        config["model_id"] = uuid_value(config["model_id"]) or None
    data_info = config.get("data_info") or {}
    for key in ("ref_dataset_id", "eval_dataset_id"):
        if key in data_info:
            data_info[key] = uuid_value(data_info[key]) or None
    suite = config.get("test_suite_config") or {}
    if "individual_tests_config" in suite:
        suite["individual_tests_config"] = json_field(suite["individual_tests_config"], "individual_tests_config")
    if "custom_tests" in suite:
        suite["custom_tests"] = [json_field(test, "custom_tests") for test in suite["custom_tests"] or []]
    runtime = config.get("run_time_info") or {}
    if "agent_id" in runtime:
        runtime["agent_id"] = uuid_value(runtime["agent_id"]) or None
    return config


def check_test_run_config(request, config: dict, project=None) -> None:
    """What a 400 can say before a job exists: missing fields, unknown ids, a config the engine refuses."""
    from stresstests.engine.config import RunConfig
    from stresstests.engine.errors import ConfigError

    require(config, "run_name")
    data_info = require(config, "data_info", dict)
    require(data_info, "eval_dataset_id")
    for key in ("ref_dataset_id", "eval_dataset_id"):
        if data_info.get(key):
            _in_project(dataset_in_scope(request, data_info[key]), project, "Dataset", data_info[key])
    if config.get("model_id"):
        _in_project(model_in_scope(request, config["model_id"]), project, "Model", config["model_id"])
    try:
        RunConfig.from_dict(config)
    except ConfigError as error:
        raise ValidationError(str(error)) from error


def _in_project(obj, project, what: str, raw_id: str) -> None:
    if project is not None and obj.project_id != project.id:
        raise Http404(f"{what} {raw_id} does not exist in project {project.name}.")


@RIME_SCHEMA
class ConfigValidatorView(RimeApiView):
    """start_stress_test validates its config here first; a bad one is a 400 with the reason."""

    def post(self, request, config_type: str):
        config = json_field(request.data.get("configJson") or "{}", "configJson")
        if config_type == "CONFIG_TYPE_TEST_RUN":
            check_test_run_config(request, normalise_test_run_config(config))
        return Response({})


@RIME_SCHEMA
class StartStressTestView(RimeApiView):
    """start_stress_test: queues the run and returns its job."""

    def post(self, request, project_id: str):
        from stresstests import services

        project = project_in_scope(request, project_id, write=True)
        config = normalise_test_run_config(require(request.data, "testRunConfig", dict))
        check_test_run_config(request, config, project)
        run = services.run_start_from_config(user=request.user, project=project, test_run_config=config)
        return Response({"job": messages.job_message(run, planned=planned_tests(run))}, status=201)


# --- jobs ---------------------------------------------------------------------------------------------------------------


def runs_in_scope(request):
    return (StressTestRun.objects.exclude(status=RunStatus.DRAFT)
            .filter(project__workspace_id__in=scoped_workspace_ids(request))
            .select_related("project"))


def job_in_scope(request, raw_id: str, *, write: bool = False) -> StressTestRun:
    job_id = parse_uuid(raw_id)
    run = runs_in_scope(request).filter(job_id=job_id).first() if job_id else None
    if run is None:
        raise Http404(f"Job {raw_id} does not exist.")
    check_role(membership_for(request.user, run.project.workspace_id), write=write)
    return run


def report_of(run: StressTestRun) -> dict | None:
    return StressTestReport.objects.filter(run=run).values_list("data", flat=True).first()


def planned_tests(run: StressTestRun) -> list[str]:
    """Test keys the engine will run for this run's categories and task (for the progress line while it runs)."""
    try:
        import stresstests.engine.categories  # noqa: F401 - fills the registry
        from stresstests import run_data
        from stresstests.engine.base import REGISTRY
        from stresstests.engine.vocabulary import modality_for
    except Exception:  # the progress line is a hint; a job's status must be readable even if a test module is broken
        logger.exception("Cannot list the planned tests for the progress line")
        return []
    categories = run.config.get("categories") or run.project.stress_test_categories or []
    task = run.project.model_task
    modality = modality_for(run_data.merged_data_params(
        getattr(run.reference_dataset, "data_params", None) or {},
        getattr(run.evaluation_dataset, "data_params", None) or {},
        run_data.run_level_params(run.config)).get("text_features"))
    return [key for key, test in REGISTRY.items() if test.category in categories and task in test.tasks
            and modality in test.modalities]


def job_payload(run: StressTestRun) -> dict:
    report = report_of(run) if run.status == RunStatus.SUCCEEDED else None
    planned = [] if report else planned_tests(run)
    return messages.job_message(run, report=report, planned=planned, waiting=presence.no_worker_message(run))


@RIME_SCHEMA
class JobDetailView(RimeApiView):
    """job.get_status (with progress), job.get_test_run, client.get_job."""

    def get(self, request, job_id: str):
        return Response({"job": job_payload(job_in_scope(request, job_id))})


@RIME_SCHEMA
class JobCancelView(RimeApiView):
    """job.cancel()."""

    def post(self, request, job_id: str):
        from stresstests import services

        run = services.run_cancel(user=request.user, run=job_in_scope(request, job_id, write=True))
        return Response({"job": job_payload(run)})


@RIME_SCHEMA
class ProjectJobsView(RimeApiView):
    """project.list_stress_testing_jobs (paged; status filters on the first page)."""

    def get(self, request, project_id: str):
        project = project_in_scope(request, project_id)
        params = request.query_params
        first_query = {"project": str(project.id), "types": params.getlist("firstPageQuery.selectedTypes"),
                       "statuses": params.getlist("firstPageQuery.selectedStatuses")}
        page = page_request(params, first_query)
        if page.query["project"] != str(project.id):
            raise ValidationError("The page token belongs to another project.")
        runs = runs_in_scope(request).filter(project=project).order_by("-created_at")
        if page.query["types"] and messages.JOB_TYPE not in page.query["types"]:
            runs = runs.none()
        if page.query["statuses"]:
            runs = runs.filter(status__in=page.query["statuses"])
        items = [messages.job_message(run) for run in runs[page.offset:page.offset + page.size]]
        return Response(page_body(items, page, "jobs", total=runs.count()))


@RIME_SCHEMA
class JobLogsView(RimeApiView):
    """The engine log of a job, printed by get_status when the job failed."""

    def get(self, request, job_id: str):
        run = job_in_scope(request, job_id)
        if not run.log:
            raise Http404(f"Job {job_id} has no logs.")
        return Response({"result": {"chunk": run.log}})


# --- test runs and results ----------------------------------------------------------------------------------------------


def test_run_in_scope(request, raw_id: str) -> tuple[StressTestRun, dict]:
    run_id = parse_uuid(raw_id)
    run = runs_in_scope(request).filter(id=run_id, status=RunStatus.SUCCEEDED).first() if run_id else None
    report = report_of(run) if run else None
    if report is None:
        raise Http404(f"Test run {raw_id} does not exist.")
    return run, report


def web_url(request, run: StressTestRun) -> str:
    try:
        path = reverse("stresstests:run_detail", kwargs={"run_id": run.id})
    except NoReverseMatch:
        path = f"/stress-tests/{run.id}/"
    # RIME's webAppUrl has no scheme: the notebook repr puts https:// in front of it.
    return request.build_absolute_uri(path).split("://", 1)[-1]


@RIME_SCHEMA
class TestRunDetailView(RimeApiView):
    """test_run.get_result_df, client.get_test_run."""

    def get(self, request, test_run_id: str):
        run, report = test_run_in_scope(request, test_run_id)
        return Response({"testRun": messages.test_run_message(run, report=report, web_url=web_url(request, run))})


@RIME_SCHEMA
class TestRunListView(RimeApiView):
    """project.list_test_runs (succeeded stress-test runs, paged)."""

    def get(self, request):
        params = request.query_params
        raw_project = params.get("firstPageQuery.projectId.uuid") or params.get("projectId.uuid") or ""
        first_query = {"project": raw_project, "type": params.get("firstPageQuery.testingType") or ""}
        page = page_request(params, first_query)
        project = project_in_scope(request, page.query["project"])
        runs = runs_in_scope(request).filter(project=project, status=RunStatus.SUCCEEDED).order_by("-created_at")
        if page.query["type"] not in ("", messages.TESTING_TYPE):
            runs = runs.none()  # continuous testing does not exist here
        items = [messages.test_run_message(run, report=None, web_url=web_url(request, run))
                 for run in runs[page.offset:page.offset + page.size]]
        return Response(page_body(items, page, "testRuns", total=runs.count()))


def _paged_results(request, query_key: str, list_key: str, build) -> Response:
    page = page_request(request.query_params, {"run": request.query_params.get(query_key) or ""})
    run, report = test_run_in_scope(request, page.query["run"])
    items = build(run, report)
    return Response(page_body(items[page.offset:page.offset + page.size], page, list_key, total=len(items)))


@RIME_SCHEMA
class TestCaseListView(RimeApiView):
    """test_run.get_test_cases_df (paged)."""

    def get(self, request):
        return _paged_results(request, "listTestCasesQuery.testRunId", "testCases", messages.test_case_messages)


@RIME_SCHEMA
class SummaryTestListView(RimeApiView):
    """test_run.get_summary_tests_df (deprecated reader; paged)."""

    def get(self, request):
        return _paged_results(request, "query.testRunId", "summaryTestResults", messages.category_result_messages)


@RIME_SCHEMA
class CategoryResultsView(RimeApiView):
    """test_run.get_category_results_df (not paged)."""

    def get(self, request, test_run_id: str):
        run, report = test_run_in_scope(request, test_run_id)
        return Response({"categoryTestResults": messages.category_result_messages(run, report)})


# --- rime_web's own addition ----------------------------------------------------------------------------------------------


class NativeReportView(RimeApiView):
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]

    @extend_schema(tags=["rime_web additions"], responses={200: OpenApiTypes.OBJECT},
                   summary="The engine's native JSON report of a finished run (schema_version first)")
    def get(self, request, test_run_id: str):
        run, report = test_run_in_scope(request, test_run_id)
        response = Response(report)
        response["Content-Disposition"] = f'attachment; filename="stress-test-{run.id}.json"'
        return response
