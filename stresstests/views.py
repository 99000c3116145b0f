"""Stress Testing pages: the runs list, the Create Stress Test wizard, a run's live progress, Cancel and Re-run."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from projects.models import DatasetSource, ModelSource
from projects.selectors import get_project_for_user

from . import presence, run_data, selectors, services, wizard, wizard_checks
from .forms import DATASET_SOURCES, MODEL_SOURCES, ConfigurationForm, ProtectedFeaturesForm, ranking_params
from .models import ConfigMode, RunStatus, StressTestReport
from .results.views import filter_runs

# The results pages (issue 6, own URL namespace); linked from the run page once they are installed.
RESULTS_URL_NAMES = ("results:run_results",)


def _add_errors(form, error: ValidationError, aliases: dict[str, str] | None = None) -> None:
    """Puts a service's ValidationError on the form: on the matching field, else at the top."""
    aliases = aliases or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, errors in error.error_dict.items():
        name = aliases.get(key, key)
        form.add_error(name if name in form.fields and name not in form.errors else None, errors)


def _redirect(request, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# ---- list and create ---------------------------------------------------------------------------------------------
@login_required
@require_GET
def run_list(request, project_id):
    project, membership = get_project_for_user(request.user, project_id)
    # Status "Draft" lists the unfinished wizards only (they are not runs yet: no severity, no page of their own).
    wants_drafts = request.GET.get("status") == RunStatus.DRAFT
    listing = filter_runs(request, project.runs.none() if wants_drafts else selectors.runs_of(project))
    runs = listing["runs"]
    context = {
        "project": project, "workspace": project.workspace, "membership": membership, "nav": "stress",
        # Drafts head the first page of the unfiltered list, for those who can resume or delete them.
        "drafts": selectors.drafts_of(project) if membership.can_write and (
            wants_drafts or _first_unfiltered_page(listing)) else [],
        "polling": any(run.is_active for run in runs), **listing,
    }
    template = "stresstests/run_list.html#run_table" if request.htmx else "stresstests/run_list.html"
    return render(request, template, context)


def _first_unfiltered_page(listing: dict) -> bool:
    return listing["page_obj"].number == 1 and not listing["filter_query"]


@login_required
@require_POST
def run_create(request, project_id):
    project, _ = get_project_for_user(request.user, project_id, write=True)
    run = services.run_create_draft(user=request.user, project=project)
    return redirect(wizard_url(run, wizard.STEPS[0]))


# ---- the wizard --------------------------------------------------------------------------------------------------
def wizard_url(run, step: wizard.Step) -> str:
    return reverse("stresstests:wizard_step", kwargs={"run_id": run.id, "step": step.slug})


@sensitive_post_parameters("secret")  # the registry secret stays out of Django's error reports
@login_required
@require_http_methods(["GET", "POST"])
def wizard_step(request, run_id, step):
    run, membership = selectors.get_run_for_user(request.user, run_id, write=True)
    if run.status != RunStatus.DRAFT:
        return _redirect(request, reverse("stresstests:run_detail", args=[run.id]))
    current = wizard.STEP_BY_SLUG.get(step)
    if current is None:
        raise Http404("No such step.")
    if not wizard.may_open(run, current):
        return redirect(wizard_url(run, wizard.first_incomplete_step(run)))
    handler = {"configuration": _configuration_step, "model": _model_step}.get(current.slug, _dataset_step)
    return handler(request, run, current, membership)


def _render_step(request, run, step, membership, step_template: str, form, **extra):
    context = {
        "run": run, "project": run.project, "workspace": run.project.workspace, "membership": membership,
        "nav": "stress", "step": step, "steps": [(s, wizard.is_step_done(run, s)) for s in wizard.STEPS],
        "previous": wizard.step_before(step), "is_last": wizard.step_after(step) is None,
        "step_template": step_template, "form": form, **extra,
    }
    template = "stresstests/wizard.html#step_form" if request.htmx else "stresstests/wizard.html"
    return render(request, template, context)


def _after_step(request, run, step):
    following = wizard.step_after(step)
    check = wizard_checks.model_check(run) if step.slug in ("model", "reference") else None
    if check and check["status"] == wizard_checks.CHECK_FAILED:  # the step shows why, and stays
        return _redirect(request, wizard_url(run, step))
    if check and check["status"] == wizard_checks.CHECK_PENDING and step.slug in wizard.MODEL_CHECKED_STEPS:
        # The model step waits for the worker's answer (the page polls) and moves on when it is ✓. The call on
        # reference rows is not waited for: its answer is on the evaluation step, and a failure stops the submission.
        return _redirect(request, wizard_url(run, step) + "?continue=1")
    if following is not None:
        return _redirect(request, wizard_url(run, following))
    data_check = wizard_checks.draft_data_check(run)
    if services.wizard_problems(run, data_check) or (data_check and data_check.timestamp_proposals):
        # Shown on the evaluation step: each problem with its fix, or a date column to take as the timestamp.
        return _redirect(request, wizard_url(run, step))
    return _submit(request, run, checked=True)


def _submit(request, run, *, checked: bool = False):
    if checked:  # the wizard's own checks just passed: only run_submit's remain
        services.run_submit(user=request.user, run=run)
    else:
        services.run_submit_from_wizard(user=request.user, run=run)
    messages.success(request, f"Stress test “{run.name}” was queued.", extra_tags="run-queued")
    return _redirect(request, reverse("stresstests:run_detail", args=[run.id]))


def _configuration_initial(run) -> dict:
    config = run.config or {}
    return {
        "config_mode": run.config_mode,
        "categories": config.get("categories") or run.project.stress_test_categories,
        "name": run.name,
        "random_seed": (config.get("run_time_info") or {}).get("random_seed"),
        "global_test_sensitivity": (config.get("test_suite_config") or {}).get("global_test_sensitivity", ""),
    }


def _configuration_step(request, run, step, membership):
    form = ConfigurationForm(request.POST or None, initial=_configuration_initial(run))
    if request.method == "POST" and form.is_valid():
        services.run_save_configuration(user=request.user, run=run, **form.cleaned_data)
        return _after_step(request, run, step)
    mode = request.POST.get("config_mode") or request.GET.get("config_mode") or run.config_mode
    extra = {"custom": mode == ConfigMode.CUSTOM, "risk_groups": wizard.risk_groups()}
    if request.htmx and request.htmx.target == "risk-types":
        context = {"form": form, "run": run, **extra}
        return render(request, "stresstests/wizard/_configuration.html#risk_types", context)
    return _render_step(request, run, step, membership, "stresstests/wizard/_configuration.html", form, **extra)


def _chosen_source(request, sources: dict, default: str) -> str:
    source = request.POST.get("source") or request.GET.get("source") or default
    return source if source in sources else default


def _render_sources(request, run, step, membership, form, *, sources: dict, source: str, **extra):
    extra.update({"sources": [(key, label) for key, (label, _) in sources.items()], "source": source,
                  "source_template": f"stresstests/wizard/_{'model' if step.slug == 'model' else 'dataset'}_{source}.html"})
    if request.htmx and request.htmx.target == "step-source":
        return render(request, "stresstests/wizard/_sources.html", {"form": form, "run": run, "step": step, **extra})
    return _render_step(request, run, step, membership, "stresstests/wizard/_sources.html", form, **extra)


def _model_step(request, run, step, membership):
    replaceable = wizard_checks.replaceable_model(run)
    has_models = run.project.models.exists()
    retry = "hugging_face" if replaceable and (replaceable.model_config or {}).get("hugging_face") else "upload"
    source = _chosen_source(request, MODEL_SOURCES, "registered" if has_models and not replaceable else retry)
    form_class = MODEL_SOURCES[source][1]
    kwargs = {"initial": {"model": run.model_id}} if source == "registered" else {
        "replaceable": replaceable.name if replaceable else "",
        "initial": {"name": replaceable.name, "tags": ", ".join(replaceable.tags),
                    **_hugging_face_initial(replaceable)} if replaceable else None}
    form = form_class(request.POST or None, request.FILES or None, project=run.project, **kwargs)
    if request.method == "POST" and form.is_valid():
        try:
            _save_model_step(request.user, run, source, form)
        except ValidationError as error:
            aliases = {"files": "hf_folder"} if source == "hugging_face" else {
                "integration": "registry", "path": "uri", "model_uri": "uri"}
            _add_errors(form, error, aliases)
        else:
            return _after_step(request, run, step)
    integrations = run.project.workspace.integrations.order_by("name").values_list("name", flat=True)
    return _render_sources(request, run, step, membership, form, sources=MODEL_SOURCES, source=source,
                           integrations=list(integrations), **_check_context(request, run, step))


def _hugging_face_initial(model) -> dict:
    """A failed Hugging Face model's settings, shown again when it is replaced (its folder must be chosen again)."""
    config = (model.model_config or {}).get("hugging_face") or {}
    if not config:
        return {}
    class_map = ", ".join(f"{index}: {name}" for index, name in (config.get("class_map") or {}).items())
    return {"class_map": class_map, "ignore_class_names": bool(config.get("ignore_class_names")),
            "model_uri": config.get("model_uri", ""), "tokenizer_uri": config.get("tokenizer_uri", "")}


def _check_context(request, run, step) -> dict:
    return {"model_check": wizard_checks.model_check(run), "continue_after_check": bool(request.GET.get("continue"))}


def _save_model_step(user, run, source: str, form) -> None:
    data = form.cleaned_data
    if source == "registered":
        services.run_set_model(user=user, run=run, model=data["model"])
        return
    if source == "hugging_face":
        services.run_register_model(user=user, run=run, source=source, name=data["name"], tags=data["tags"],
                                    **form.register_kwargs())
        return
    services.run_register_model(
        user=user, run=run, source=source, name=data["name"], tags=data["tags"], files=data.get("files"),
        registry_name=data["registry"].name if source == "registry" else "", uri=data.get("uri", ""),
    )


def _dataset_step(request, run, step, membership):
    role = step.dataset_role
    project = run.project
    chosen = getattr(run, f"{role}_dataset")
    source = _chosen_source(request, DATASET_SOURCES, _default_dataset_source(run, role))
    kwargs = {"project": project, "prefix": role, "initial": {}}
    if source == "registered":
        kwargs["initial"] = {"dataset": str(chosen.id) if chosen else ""}
    if source == "upload":
        kwargs["label_required"] = role == "reference"
    if source in ("upload", "connection") and role == "evaluation" and run.reference_dataset is not None:
        # The evaluation set usually names its label like the reference: proposed, the user may change or clear it.
        kwargs["initial"] = {"label_col": (run.reference_dataset.data_params or {}).get("label_col", "")}
    if role == "reference":  # the text columns of both datasets are named once, with the reference
        kwargs["text_task"] = project.model_task
        kwargs["text_model"] = _is_text_model(run.model)
        kwargs["initial"]["text_features"] = ", ".join(wizard_checks.run_text_features(run))
    form = DATASET_SOURCES[source][1](request.POST or None, request.FILES or None, **kwargs)
    if request.method == "POST" and form.is_valid():
        try:
            note = _save_dataset_step(request.user, run, role, source, form)
            response = _after_step(request, run, step)
        except ValidationError as error:
            _add_errors(form, error, {"integration": "connection", "pred_params": "pred_col"})
        else:
            if note:
                messages.info(request, note)
            return response
    return _render_sources(
        request, run, step, membership, form, sources=DATASET_SOURCES, source=source, chosen=chosen,
        chosen_predictions=getattr(run, f"{role}_predictions"),
        integrations=list(project.workspace.integrations.order_by("name").values_list("name", flat=True)),
        **_check_context(request, run, step), **_evaluation_checks(request, run, step),
    )


def _is_text_model(model) -> bool:
    """A Hugging Face model (uploaded save_pretrained folder or registry URI) reads text, never a table."""
    return model is not None and (model.source == ModelSource.HUGGING_FACE
                                  or bool((model.model_config or {}).get("hugging_face")))


def _default_dataset_source(run, role: str) -> str:
    """The tab a dataset step opens on: the chosen dataset's list, or the way the reference came in this draft."""
    if getattr(run, f"{role}_dataset_id"):
        return "registered"
    reference = run.reference_dataset
    if role == "evaluation" and reference is not None and reference.created_at >= run.created_at:
        return {DatasetSource.UPLOAD: "upload", DatasetSource.TABLE: "connection"}.get(reference.source, "registered")
    return "registered" if run.project.datasets.exists() else "upload"


def _evaluation_checks(request, run, step) -> dict:
    """The evaluation step's panel: the two datasets compared, fixes, protected features, Start."""
    if wizard.step_after(step) is not None or run.evaluation_dataset_id is None:
        return {}
    categories = services.effective_test_run_config(run)["categories"]
    data_check = wizard_checks.draft_data_check(run)
    wants_protected = "TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS" in categories
    protected_form = None
    problems = services.wizard_problems(run, data_check)
    # A text run needs no protected feature (its swaps change the text): the form shows only when there are columns.
    if wants_protected and data_check is not None and (data_check.protected_candidates
                                                         or not wizard_checks.is_text_run(run)):
        protected_form = ProtectedFeaturesForm(run=run, data_check=data_check)
        if protected_form.fields["protected_features"].initial:  # shown ticked: Start saves them, nothing is missing
            problems = [problem for problem in problems if problem != services.NEEDS_PROTECTED]
    return {"data_check": data_check, "protected_form": protected_form, "wizard_problems": problems,
            "not_started": bool(request.GET.get("not_started"))}


def _save_dataset_step(user, run, role: str, source: str, form) -> str:
    """Saves the step; returns what the upload check found, to show on the next page."""
    note = _save_step_dataset(user, run, role, source, form)
    features = form.cleaned_data.get("text_features")
    if "text_features" in form.fields and (features or run_data.run_level_params(run.config).get("text_features")):
        # Once the dataset is saved, so a refused dataset leaves the run as it was.
        services.run_set_text_features(user=user, run=run, features=features)
    return note


def _save_step_dataset(user, run, role: str, source: str, form) -> str:
    data = form.cleaned_data
    if source == "registered":
        services.run_set_dataset(user=user, run=run, role=role, dataset=data["dataset"])
        return ""
    if source == "connection":
        predictions = {
            "source": DatasetSource.TABLE, "integration": data["pred_connection"], "table_name": data["pred_table_name"],
            "pred_params": {"pred_col": data["pred_col"], "timestamp_col": data["pred_timestamp_col"]},
        } if data["with_predictions"] else None
        name = services.unique_dataset_name(run.project, f"{data['table_name']} ({data['connection']})")
        services.run_register_dataset(
            user=user, run=run, role=role, source=DatasetSource.TABLE, name=name, connection_name=data["connection"],
            table_name=data["table_name"], predictions=predictions,
            data_params={"label_col": data["label_col"], "timestamp_col": data["timestamp_col"],
                         **ranking_params(data)},
        )
        return ""
    predictions = None
    data_params = {key: data[key] for key in ("label_col", "timestamp_col") if data[key]} | ranking_params(data)
    if form.kept_prediction_like:
        data_params["keep_as_features"] = form.kept_prediction_like
    if form.predictions_in_dataset_file:
        data_params["pred_col"] = data["pred_col"]
    elif data["with_predictions"]:
        predictions = {"source": DatasetSource.UPLOAD, "file": data["pred_file"],
                       "pred_params": {"pred_col": data["pred_col"] or form.predictions_check.prediction_column}}
    services.run_register_dataset(
        user=user, run=run, role=role, source=DatasetSource.UPLOAD, name=data["name"], file=data["file"],
        data_params=data_params, predictions=predictions,
    )
    return form.check.summary(label_col=data["label_col"], pred_col=data_params.get("pred_col", ""),
                              kept_as_features=bool(form.kept_prediction_like), timestamp_col=data["timestamp_col"],
                              text_features=data.get("text_features") or wizard_checks.run_text_features(run))


@login_required
@require_GET
def wizard_model_check(request, run_id, step):
    """Polled by the model and reference steps while the model is checked on a worker."""
    run, _ = selectors.get_run_for_user(request.user, run_id, write=True)
    current = wizard.STEP_BY_SLUG.get(step)
    if current is None:
        raise Http404("No such step.")
    if run.status != RunStatus.DRAFT:
        return HttpResponseClientRedirect(reverse("stresstests:run_detail", args=[run.id]))
    check = wizard_checks.model_check(run)
    moves_on = current.slug in wizard.MODEL_CHECKED_STEPS and request.GET.get("continue")
    if moves_on and check and check["status"] == wizard_checks.CHECK_OK:
        return HttpResponseClientRedirect(wizard_url(run, wizard.step_after(current)))
    if moves_on and check and check["status"] == wizard_checks.CHECK_FAILED:
        # The whole step again: it now opens on the upload tab, ready to replace the failed model.
        return HttpResponseClientRedirect(wizard_url(run, current))
    if not request.htmx:
        return redirect(wizard_url(run, current))
    context = {"run": run, "step": current, "model_check": check, "continue_after_check": bool(request.GET.get("continue"))}
    return render(request, "stresstests/wizard/_model_check.html", context)


def _save_protected_ticks(request, run) -> None:
    """The protected features as ticked on the evaluation step's form (also when a fix button sent it), so no
    button of that form loses them; the marker tells "none ticked" from "not on the page"."""
    if request.POST.get("protected_features_shown") or "protected_features" in request.POST:
        services.run_set_protected_features(user=request.user, run=run,
                                            features=request.POST.getlist("protected_features"))


def _posted_fix(request) -> tuple[str, str]:
    """(action, column): from the fix button's `fix=action:column`, or the plain `action` and `column` fields."""
    action, _, column = request.POST.get("fix", "").partition(":")
    if action and column:
        return action, column
    return request.POST.get("action", ""), request.POST.get("column", "")


@login_required
@require_POST
def wizard_fix_column(request, run_id):
    run, _ = selectors.get_run_for_user(request.user, run_id, write=True)
    evaluation = wizard.STEPS[-1]
    action, column = _posted_fix(request)
    try:
        _save_protected_ticks(request, run)
        services.run_fix_column(user=request.user, run=run, column=column, action=action)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return _redirect(request, wizard_url(run, evaluation) + "#wizard-checks")


@login_required
@require_POST
def wizard_start(request, run_id):
    """The evaluation step's Start: saves the protected features it asked for, then submits like Next. Refused, it
    goes back to the checks with "did not start" and the reasons at their top."""
    run, _ = selectors.get_run_for_user(request.user, run_id, write=True)
    evaluation = wizard.STEPS[-1]
    if run.status != RunStatus.DRAFT:
        return _redirect(request, reverse("stresstests:run_detail", args=[run.id]))
    if not wizard.may_open(run, evaluation) or run.evaluation_dataset_id is None:
        return redirect(wizard_url(run, wizard.first_incomplete_step(run) or evaluation))
    try:
        _save_protected_ticks(request, run)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _redirect(request, wizard_url(run, evaluation) + "#wizard-checks")
    try:
        return _submit(request, run)
    except ValidationError as error:
        if not services.wizard_problems(run):  # the checks panel would not show these: say them as a message
            messages.error(request, " ".join(error.messages))
    return _redirect(request, wizard_url(run, evaluation) + "?not_started=1#not-started")


# ---- a run -------------------------------------------------------------------------------------------------------
def _run_context(request, run, membership) -> dict:
    report = None
    if run.status == RunStatus.SUCCEEDED:
        report = StressTestReport.objects.filter(run=run).only("data").first()
    return {
        "run": run, "project": run.project, "workspace": run.project.workspace, "membership": membership,
        "nav": "stress", "summary": selectors.report_summary(report.data) if report else None,
        "results_url": _results_url(run) if report else None,
        "first_step_url": wizard_url(run, wizard.first_incomplete_step(run) or wizard.STEPS[0]),
        "no_worker_message": presence.no_worker_message(run),
    }


def _results_url(run) -> str | None:
    for name in RESULTS_URL_NAMES:
        try:
            return reverse(name, kwargs={"run_id": run.id})
        except NoReverseMatch:
            continue
    return None


@login_required
@require_GET
def run_detail(request, run_id):
    run, membership = selectors.get_run_for_user(request.user, run_id)
    if run.status == RunStatus.DRAFT and membership.can_write:
        return redirect(wizard_url(run, wizard.first_incomplete_step(run) or wizard.STEPS[-1]))
    return render(request, "stresstests/run_detail.html", _run_context(request, run, membership))


@login_required
@require_GET
def run_progress(request, run_id):
    """Polled by htmx every second while the run is active; the finished partial carries no trigger, so it stops."""
    run, membership = selectors.get_run_for_user(request.user, run_id)
    if not request.htmx:
        return redirect("stresstests:run_detail", run_id=run.id)
    return render(request, "stresstests/run_detail.html#run_status", _run_context(request, run, membership))


@login_required
@require_POST
def run_cancel(request, run_id):
    run, _ = selectors.get_run_for_user(request.user, run_id, write=True)
    try:
        run = services.run_cancel(user=request.user, run=run)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Cancelled." if run.status == RunStatus.CANCELLED else "Cancelling…")
    return _redirect(request, reverse("stresstests:run_detail", args=[run.id]))


@login_required
@require_POST
def run_rerun(request, run_id):
    """Re-run: one click, a new run with the same configuration, queued at once."""
    run, _ = selectors.get_run_for_user(request.user, run_id, write=True)
    try:
        rerun = services.run_rerun_at_once(user=request.user, run=run)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _redirect(request, reverse("stresstests:run_detail", args=[run.id]))
    messages.success(request, f"Stress test “{rerun.name}” was queued.")
    return _redirect(request, reverse("stresstests:run_detail", args=[rerun.id]))


@login_required
@require_POST
def run_rerun_edit(request, run_id):
    """Edit and re-run: the wizard, pre-filled with the run's configuration."""
    run, _ = selectors.get_run_for_user(request.user, run_id, write=True)
    try:
        draft = services.run_rerun(user=request.user, run=run)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _redirect(request, reverse("stresstests:run_detail", args=[run.id]))
    messages.info(request, "A copy of the configuration is ready: change what you need and press Next to start it.")
    return _redirect(request, wizard_url(draft, wizard.STEPS[0]))


@login_required
@require_POST
def run_delete_draft(request, run_id):
    run, _ = selectors.get_run_for_user(request.user, run_id, write=True)
    project_id = run.project_id
    try:
        services.run_delete_draft(user=request.user, run=run)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _redirect(request, reverse("stresstests:run_detail", args=[run.id]))
    messages.success(request, f"Draft “{run.name}” was deleted.")
    return _redirect(request, reverse("stresstests:run_list", args=[project_id]))
