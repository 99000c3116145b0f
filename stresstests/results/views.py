"""Result pages of finished runs: the run's tabs, a test's detail, downloads, the comparison of two runs, and the
filtering helper of the Stress Testing list. Every page renders the engine's report; nothing is recomputed."""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from projects.selectors import get_project_for_user
from stresstests.models import RunStatus, StressTestReport, StressTestRun
from stresstests.selectors import get_run_for_user

from . import exports
from .compare import compare_reports
from .report import RunResults, feature_from_url_id, run_title

TABS = ("overview", "category", "feature")
RUNS_PER_PAGE = 20
# A finished run's report never changes, so its rendered result regions are cached for a day.
RESULTS_CACHE_SECONDS = 24 * 3600
RESULTS_DIR = Path(__file__).resolve().parent
APP_DIR = RESULTS_DIR.parent
# What the cached markup is made from: when any of it changes (a deploy), the cache keys change with it, so a shared
# cache (Redis) never serves markup of the previous version.
RENDERING_SOURCES = (RESULTS_DIR / "report.py", RESULTS_DIR / "charts.py",
                     APP_DIR / "templatetags" / "results_tags.py")
RENDERING_TEMPLATES = APP_DIR.parent / "templates" / "stresstests" / "results"


@functools.cache
def rendering_version() -> str:
    digest = hashlib.sha256()
    for path in [*RENDERING_SOURCES, *sorted(RENDERING_TEMPLATES.glob("*.html"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _succeeded_run(user, run_id) -> tuple[StressTestRun, object]:
    run, membership = get_run_for_user(user, run_id)
    if run.status != RunStatus.SUCCEEDED:
        raise Http404("This stress test has no results yet.")
    return run, membership


def _report_data(run: StressTestRun) -> dict:
    data = StressTestReport.objects.filter(run=run).values_list("data", flat=True).first()
    if data is None:
        raise Http404("This stress test has no results yet.")
    return data


def _finished_run(user, run_id) -> tuple[StressTestRun, dict]:
    """The run and its report, or 404 while it has none (still running, failed or cancelled)."""
    run, _ = _succeeded_run(user, run_id)
    return run, _report_data(run)


def _cached_fragment(run: StressTestRun, name: str, build: Callable[[], dict | None]) -> dict:
    """`build()` (which loads the report) once per run and region; access is checked before, by the caller,
    and fragments hold nothing that depends on the user. A region that does not exist (build() returns None) is
    a 404 and is not cached, so made-up URLs cannot crowd real pages out of the cache."""
    region = hashlib.sha256(name.encode()).hexdigest()[:32]  # URL input: keep keys short and plain for any backend
    finished = run.finished_at.timestamp() if run.finished_at else 0
    key = f"results:{rendering_version()}:{run.id}:{finished}:{region}"
    fragment = cache.get(key)
    if fragment is None:
        fragment = build()
        if fragment is None:
            raise Http404("This run has no such page.")
        cache.set(key, fragment, RESULTS_CACHE_SECONDS)
    return fragment


def _page_context(run: StressTestRun, membership, **extra) -> dict:
    return {"run": run, "project": run.project, "workspace": run.project.workspace, "membership": membership,
            "nav": "stress", **extra}


@login_required
@require_GET
def run_results(request, run_id, tab: str = "overview"):
    if tab not in TABS:
        raise Http404("No such tab.")
    run, membership = _succeeded_run(request.user, run_id)
    fragment = _cached_fragment(run, f"tab:{tab}", lambda: {"html": render_to_string(
        "stresstests/results/_run_results.html",
        {"run": run, "report": RunResults(_report_data(run)), "tab": tab, "scripts_in_head": True})})
    if request.htmx:
        return HttpResponse(fragment["html"])
    return render(request, "stresstests/results/run_page.html",
                  _page_context(run, membership, tab=tab, results_html=fragment["html"], title=run_title(run)))


@login_required
@require_GET
def test_detail(request, run_id, test_type: str):
    return _region_page(request, run_id, f"test:{test_type}", lambda run: _test_fragment(run, test_type))


@login_required
@require_GET
def feature_detail(request, run_id, feature_id: str):
    return _region_page(request, run_id, f"feature:{feature_id}", lambda run: _feature_fragment(run, feature_id))


def _region_page(request, run_id, region: str, build: Callable[[StressTestRun], dict | None]) -> HttpResponse:
    """A test's or a feature's page: the cached region ({"name", "html"}) inside the project layout."""
    run, membership = _succeeded_run(request.user, run_id)
    fragment = _cached_fragment(run, region, lambda: build(run))
    return render(request, "stresstests/results/test_detail.html",
                  _page_context(run, membership, crumb=fragment["name"], body_html=fragment["html"]))


def _feature_fragment(run: StressTestRun, feature_id: str) -> dict | None:
    try:
        name = feature_from_url_id(feature_id)
    except ValueError:  # not base64, or not UTF-8 inside (UnicodeDecodeError is a ValueError)
        return None
    results = RunResults(_report_data(run))
    feature = results.feature(name)
    if feature is None:
        return None
    html = render_to_string("stresstests/results/_feature_body.html", {
        "run": run, "feature": feature, "cases": results.feature_cases(name),
        "distribution": results.feature_distribution_chart(name)})
    return {"name": name, "html": html}


def _test_fragment(run: StressTestRun, test_type: str) -> dict | None:
    detail = RunResults(_report_data(run)).test(test_type)
    if detail is None:
        return None
    html = render_to_string("stresstests/results/_test_body.html", {"run": run, "test": detail})
    return {"name": detail.row.name, "html": html}


def _download(content: str | bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def export_json(request, run_id):
    run, report = _finished_run(request.user, run_id)
    return _download(exports.report_json(report), "application/json", exports.export_filename(run, ".json"))


@login_required
@require_GET
def export_test_cases_csv(request, run_id):
    run, report = _finished_run(request.user, run_id)
    return _download(exports.test_cases_csv(report), "text/csv; charset=utf-8",
                     exports.export_filename(run, "-test-cases.csv"))


@login_required
@require_GET
def export_failing_rows_csv(request, run_id, test_type: str):
    run, report = _finished_run(request.user, run_id)
    detail = RunResults(report).test(test_type)
    if detail is None:
        raise Http404("This run has no such test.")
    return _download(exports.failing_rows_csv(detail), "text/csv; charset=utf-8",
                     exports.export_filename(run, f"-{test_type}-failing-rows.csv"))


@login_required
@require_GET
def export_html(request, run_id):
    run, report = _finished_run(request.user, run_id)
    return _download(exports.report_html(run, report), "text/html; charset=utf-8",
                     exports.export_filename(run, ".html"))


# --- Comparison -----------------------------------------------------------------------------------------------------


class CompareForm(forms.Form):
    base = forms.ChoiceField(label="Earlier run (base)")
    head = forms.ChoiceField(label="Later run (compared)")

    def __init__(self, *args, runs: list[StressTestRun], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [(str(run.id), f"{run} · {run.created_at:%Y-%m-%d %H:%M}") for run in runs]
        self.fields["base"].choices = choices
        self.fields["head"].choices = choices

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("base") and cleaned.get("base") == cleaned.get("head"):
            raise forms.ValidationError("Pick two different runs to compare.")
        return cleaned


@login_required
@require_GET
def compare_runs(request, project_id):
    project, membership = get_project_for_user(request.user, project_id)
    runs = list(project.runs.filter(status=RunStatus.SUCCEEDED).order_by("-created_at"))
    # The run page links here with only `head`: preselect it and the run before it instead of showing errors.
    bound = "base" in request.GET and "head" in request.GET
    form = CompareForm(request.GET if bound else None, runs=runs, initial=_default_pair(runs, request.GET.get("head")))
    context = {"project": project, "workspace": project.workspace, "membership": membership, "nav": "stress",
               "form": form, "runs": runs, "comparison": None}
    if form.is_valid():
        reports = {str(r.run_id): r for r in StressTestReport.objects.filter(
            run_id__in=[form.cleaned_data["base"], form.cleaned_data["head"]], run__project=project)}
        base, head = reports.get(form.cleaned_data["base"]), reports.get(form.cleaned_data["head"])
        if base is None or head is None:
            raise Http404("One of these runs has no results.")
        runs_by_id = {str(run.id): run for run in runs}
        context.update(comparison=compare_reports(base.data, head.data),
                       base_run=runs_by_id[str(base.run_id)], head_run=runs_by_id[str(head.run_id)])
    return render(request, "stresstests/results/compare.html", context)


def _default_pair(runs: list[StressTestRun], head_id: str | None) -> dict:
    ids = [str(run.id) for run in runs]
    head = head_id if head_id in ids else (ids[0] if ids else None)
    older = ids[ids.index(head) + 1:] if head else []
    return {"head": head, "base": older[0] if older else next((i for i in ids if i != head), None)}


# --- Filtering of the Stress Testing list (the list view belongs to the wizard; it calls this) ---------------------

SEVERITY_FILTERS = {
    "alert": Q(summary__alert__gt=0),
    "warning": Q(summary__warning__gt=0) & ~Q(summary__alert__gt=0),
    "pass": Q(status=RunStatus.SUCCEEDED) & ~Q(summary__alert__gt=0) & ~Q(summary__warning__gt=0),
}


class RunFilterForm(forms.Form):
    status = forms.ChoiceField(label="Status", required=False,
                               choices=[("", "Any status")] + list(RunStatus.choices))
    severity = forms.ChoiceField(label="Worst severity", required=False, choices=[
        ("", "Any severity"), ("alert", "Alert"), ("warning", "Warning (no Alert)"), ("pass", "Pass (all tests)")])


@dataclass
class RunPage:
    """One page of the list. It fetches one run more than it shows instead of counting all runs: no COUNT query,
    and the list keeps the same number of queries with or without pages."""

    runs: list[StressTestRun]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def filter_runs(request, runs: QuerySet[StressTestRun]) -> dict:
    """Context for the list: `runs` (this page's runs), `page_obj` (RunPage), `filter_form`, `filter_query` (the
    filters as a query string, for page links and polling).

    Severity reads `run.summary` (the finished run's severity counts), so no report is loaded.
    """
    form = RunFilterForm(request.GET or None)
    if form.is_valid():
        if form.cleaned_data["status"]:
            runs = runs.filter(status=form.cleaned_data["status"])
        if form.cleaned_data["severity"]:
            runs = runs.filter(SEVERITY_FILTERS[form.cleaned_data["severity"]])
    number = _page_number(request.GET.get("page"))
    start = (number - 1) * RUNS_PER_PAGE
    fetched = list(runs[start:start + RUNS_PER_PAGE + 1])
    page = RunPage(fetched[:RUNS_PER_PAGE], number, len(fetched) > RUNS_PER_PAGE)
    query = request.GET.copy()
    query.pop("page", None)
    return {"page_obj": page, "runs": page.runs, "filter_form": form, "filter_query": query.urlencode()}


def _page_number(raw: str | None) -> int:
    try:
        return max(int(raw or 1), 1)
    except ValueError:
        return 1
