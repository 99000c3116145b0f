"""Pages: workspace integrations (admins edit, members see), and a project's models, datasets and predictions."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from projects import selectors as project_selectors
from projects.views import _add_errors, _project_page

from . import integrations, lists, selectors, services
from .forms import (
    INTEGRATION_FORMS,
    MODEL_FORM_SOURCES,
    TYPE_SLUGS,
    TYPE_TITLES,
    DatasetRegisterForm,
    ModelRegisterForm,
    PredictionsRegisterForm,
    pretty_json,
)
from projects.models import DatasetSource, IntegrationType, ModelSource, Predictions, ValidityStatus

# --- integrations -----------------------------------------------------------------------------------------------------

# Django's error reports would otherwise include these POST values.
hide_secrets = sensitive_post_parameters("access_key_id", "secret_access_key", "password", "url", "token",
                                         "secret_variables")


def _workspace_page(request, workspace, membership, template: str, **context):
    context.update({"workspace": workspace, "membership": membership})
    return render(request, template, context)


@login_required
@require_GET
def integration_list(request, workspace_id):
    workspace, membership = project_selectors.get_workspace_for_user(request.user, workspace_id)
    rows = [{"integration": i, "type_slug": TYPE_SLUGS.get(i.integration_type, ""),
             "credential_status": integrations.credential_status(i), "settings": _plain_settings(i)}
            for i in workspace.integrations.select_related("created_by").order_by("name")]
    return _workspace_page(request, workspace, membership, "projects/integration_list.html", rows=rows,
                           type_titles=TYPE_TITLES)


def _plain_settings(integration) -> list[tuple[str, str]]:
    """Only non-secret settings; custom variables show their names and plain values, never secret ones."""
    config = dict(integration.config)
    variables = config.pop("variables", None) or {}
    shown = [(key, str(value)) for key, value in config.items() if key != "by_url"]
    if config.get("by_url"):
        shown.append(("connection", "by URL (stored encrypted)"))
    return shown + [(key, value) for key, value in variables.items()]


def _form_class(type_slug: str):
    form_class = INTEGRATION_FORMS.get(type_slug)
    if form_class is None:
        raise Http404("No such integration type.")
    return form_class


@hide_secrets
@login_required
@require_http_methods(["GET", "POST"])
def integration_create(request, workspace_id, type_slug):
    workspace, membership = project_selectors.get_workspace_for_user(request.user, workspace_id, manage=True)
    form_class = _form_class(type_slug)
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            integration = integrations.integration_create(
                user=request.user, workspace=workspace, name=form.cleaned_data["name"],
                integration_type=form_class.integration_type, config=form.config(), secrets=form.secrets())
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Integration {integration.name} was added.")
            return redirect("projects:integration_list", workspace_id=workspace.id)
    return _workspace_page(request, workspace, membership, "projects/integration_form.html", form=form,
                           type_title=TYPE_TITLES[type_slug], integration=None)


@hide_secrets
@login_required
@require_http_methods(["GET", "POST"])
def integration_edit(request, workspace_id, integration_id):
    integration, membership = selectors.get_integration_for_user(request.user, integration_id, manage=True)
    if str(integration.workspace_id) != str(workspace_id):
        raise Http404("No such integration.")
    type_slug = TYPE_SLUGS.get(integration.integration_type, "custom")
    form = _form_class(type_slug)(request.POST or None, integration=integration)
    if request.method == "POST" and form.is_valid():
        try:
            integrations.integration_update(user=request.user, integration=integration, name=form.cleaned_data["name"],
                                            config=form.config(), secrets=form.secrets(), forget=form.forget())
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Integration {integration.name} was saved.")
            return redirect("projects:integration_list", workspace_id=integration.workspace_id)
    return _workspace_page(request, integration.workspace, membership, "projects/integration_form.html", form=form,
                           type_title=TYPE_TITLES[type_slug], integration=integration)


@login_required
@require_POST
def integration_delete(request, workspace_id, integration_id):
    integration, _ = selectors.get_integration_for_user(request.user, integration_id, manage=True)
    if str(integration.workspace_id) != str(workspace_id):
        raise Http404("No such integration.")
    integrations.integration_delete(user=request.user, integration=integration)
    messages.success(request, f"Integration {integration.name} was deleted.")
    return redirect("projects:integration_list", workspace_id=workspace_id)


# --- models -----------------------------------------------------------------------------------------------------------


def _has_pending(rows) -> bool:
    return any(row.validity_status == ValidityStatus.PENDING for row in rows)


def _list_page(request, project, membership, template: str, *, nav: str, rows_name: str, rows, **context):
    """Full page, or only the table partial for htmx polling while a row is still pending."""
    rows = list(rows)
    context.update({rows_name: rows, "pending": _has_pending(rows)})
    if request.htmx:
        context.update({"project": project, "membership": membership})
        return render(request, f"{template}#table", context)
    return _project_page(request, project, membership, template, nav=nav, **context)


@login_required
@require_GET
def model_list(request, project_id):
    project, membership = project_selectors.get_project_for_user(request.user, project_id)
    listing = lists.registry_list(selectors.models_of(project).select_related("integration"), request.GET,
                                  sources=lists.MODEL_SOURCES, location_fields=lists.MODEL_LOCATION_FIELDS)
    models = [_located(model, lists.model_location(model)) for model in listing.rows]
    return _list_page(request, project, membership, "projects/model_list.html", nav="models", rows_name="models",
                      rows=models, listing=listing)


def _located(row, location: str):
    row.location = location  # shown in the list's Path column
    return row


@login_required
@require_GET
def model_detail(request, project_id, model_id):
    model, membership = _model_in_project(request, project_id, model_id)
    predictions = model.predictions.select_related("dataset").order_by("dataset__name")
    return _project_page(request, model.project, membership, "projects/model_detail.html", nav="models", model=model,
                         predictions=predictions, model_config_json=pretty_json(model.model_config),
                         source_label=_model_source_label(model))


def _model_source_label(model) -> str:
    if model.integration and model.integration.integration_type == IntegrationType.MLFLOW:
        return "Model registry"
    return model.get_source_display()


def _model_in_project(request, project_id, model_id, *, write: bool = False):
    model, membership = selectors.get_model_for_user(request.user, model_id, write=write)
    if str(model.project_id) != str(project_id):
        raise Http404("No such model.")
    return model, membership


@login_required
@require_http_methods(["GET", "POST"])
def model_register(request, project_id):
    project, membership = project_selectors.get_project_for_user(request.user, project_id, write=True)
    source = request.GET.get("source", ModelSource.UPLOAD)
    if source not in MODEL_FORM_SOURCES:
        source = ModelSource.UPLOAD
    form = ModelRegisterForm(request.POST or None, request.FILES or None, source=source, workspace=project.workspace)
    if request.method == "POST" and form.is_valid():
        try:
            model = services.model_register(user=request.user, project=project, **form.register_kwargs())
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Model {model.name} was registered; validation is running.")
            return redirect("projects:model_detail", project_id=project.id, model_id=model.id)
    tabs = _tabs(reverse("projects:model_register", args=[project.id]), MODEL_FORM_SOURCES, source)
    return _form_page(request, project, membership, REGISTER_TEMPLATE, nav="models", form=form, tabs=tabs,
                      title="Register Model", cancel_url=reverse("projects:model_list", args=[project.id]))


def _tabs(url: str, sources: dict, current: str) -> list[dict]:
    return [{"url": f"{url}?source={key}", "label": label, "current": key == current} for key, label in sources.items()]


REGISTER_TEMPLATE = "projects/registry_register.html"  # one form page for models, datasets and predictions


def _form_page(request, project, membership, template: str, *, nav: str, **context):
    if request.htmx and request.method == "GET":
        context.update({"project": project, "membership": membership})
        return render(request, f"{template}#form", context)
    return _project_page(request, project, membership, template, nav=nav, **context)


def _delete(request, row, delete, *, kind: str, detail_url: str, list_url: str):
    """Shared by models and datasets: a row a stress test used is kept, with the reason shown."""
    try:
        delete(user=request.user, **{kind: row})
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(detail_url)
    messages.success(request, f"{kind.capitalize()} {row.name} was deleted.")
    return redirect(list_url)


def _revalidate(request, row, revalidate, *, kind: str, detail_url: str):
    revalidate(user=request.user, **{kind: row})
    messages.success(request, f"Validation of {row.name} was queued.")
    return redirect(detail_url)


@login_required
@require_POST
def model_delete(request, project_id, model_id):
    model, _ = _model_in_project(request, project_id, model_id, write=True)
    return _delete(request, model, services.model_delete, kind="model",
                   detail_url=reverse("projects:model_detail", args=[project_id, model_id]),
                   list_url=reverse("projects:model_list", args=[project_id]))


@login_required
@require_POST
def model_revalidate(request, project_id, model_id):
    model, _ = _model_in_project(request, project_id, model_id, write=True)
    return _revalidate(request, model, services.model_revalidate, kind="model",
                       detail_url=reverse("projects:model_detail", args=[project_id, model_id]))


# --- datasets and predictions ---------------------------------------------------------------------------------------

DATASET_FORM_SOURCES = {DatasetSource.UPLOAD: "Upload", DatasetSource.PATH: "Path or URI",
                        DatasetSource.TABLE: "Connection table"}


@login_required
@require_GET
def dataset_list(request, project_id):
    project, membership = project_selectors.get_project_for_user(request.user, project_id)
    listing = lists.registry_list(selectors.datasets_of(project).select_related("integration"), request.GET,
                                  sources=lists.DATASET_SOURCES, location_fields=lists.DATASET_LOCATION_FIELDS)
    datasets = [_located(dataset, lists.dataset_location(dataset)) for dataset in listing.rows]
    predictions = (Predictions.objects.filter(model__project=project)
                   .select_related("model", "dataset", "created_by").order_by("-created_at"))
    return _list_page(request, project, membership, "projects/dataset_list.html", nav="datasets",
                      rows_name="datasets", rows=datasets, predictions=predictions, listing=listing)


@login_required
@require_GET
def dataset_detail(request, project_id, dataset_id):
    dataset, membership = _dataset_in_project(request, project_id, dataset_id)
    predictions = dataset.predictions.select_related("model").order_by("model__name")
    return _project_page(request, dataset.project, membership, "projects/dataset_detail.html", nav="datasets",
                         dataset=dataset, predictions=predictions, data_params=_data_param_rows(dataset.data_params))


def _data_param_rows(params: dict) -> list[tuple[str, str]]:
    """Every data_params field (RIME's Dataset Parameters modal), empty ones as a dash."""
    names = ["label_col", "timestamp_col", "pred_col", "class_names", "categorical_features", "protected_features",
             "features_not_in_model", "text_features", "intersections", "nrows", "sample", "loading_kwargs"]
    names += [key for key in params if key not in names]
    rows = []
    for name in names:
        value = params.get(name)
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = pretty_json(value)
        rows.append((name, "—" if value in (None, "") else str(value)))
    return rows


def _dataset_in_project(request, project_id, dataset_id, *, write: bool = False):
    dataset, membership = selectors.get_dataset_for_user(request.user, dataset_id, write=write)
    if str(dataset.project_id) != str(project_id):
        raise Http404("No such dataset.")
    return dataset, membership


@login_required
@require_http_methods(["GET", "POST"])
def dataset_register(request, project_id):
    project, membership = project_selectors.get_project_for_user(request.user, project_id, write=True)
    source = _chosen(request, DATASET_FORM_SOURCES, DatasetSource.UPLOAD)
    form = DatasetRegisterForm(request.POST or None, request.FILES or None, source=source,
                               workspace=project.workspace)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            dataset = services.dataset_register(
                user=request.user, project=project, name=data["name"], source=source,
                data_params=form.data_params(), file=data.get("file"), path=data.get("path") or "",
                integration=data.get("integration"), table_name=data.get("table_name") or "")
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Dataset {dataset.name} was registered; validation is running.")
            return redirect("projects:dataset_detail", project_id=project.id, dataset_id=dataset.id)
    tabs = _tabs(reverse("projects:dataset_register", args=[project.id]), DATASET_FORM_SOURCES, source)
    return _form_page(request, project, membership, REGISTER_TEMPLATE, nav="datasets", form=form, tabs=tabs,
                      title="Register Dataset", cancel_url=reverse("projects:dataset_list", args=[project.id]))


def _chosen(request, sources: dict, default: str) -> str:
    source = request.GET.get("source", default)
    return source if source in sources else default


@login_required
@require_POST
def dataset_delete(request, project_id, dataset_id):
    dataset, _ = _dataset_in_project(request, project_id, dataset_id, write=True)
    return _delete(request, dataset, services.dataset_delete, kind="dataset",
                   detail_url=reverse("projects:dataset_detail", args=[project_id, dataset_id]),
                   list_url=reverse("projects:dataset_list", args=[project_id]))


@login_required
@require_POST
def dataset_revalidate(request, project_id, dataset_id):
    dataset, _ = _dataset_in_project(request, project_id, dataset_id, write=True)
    return _revalidate(request, dataset, services.dataset_revalidate, kind="dataset",
                       detail_url=reverse("projects:dataset_detail", args=[project_id, dataset_id]))


@login_required
@require_http_methods(["GET", "POST"])
def predictions_register(request, project_id):
    project, membership = project_selectors.get_project_for_user(request.user, project_id, write=True)
    source = _chosen(request, DATASET_FORM_SOURCES, DatasetSource.UPLOAD)
    form = PredictionsRegisterForm(request.POST or None, request.FILES or None, source=source, project=project,
                                   initial={"model": request.GET.get("model"), "dataset": request.GET.get("dataset")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.predictions_register(
                user=request.user, model=data["model"], dataset=data["dataset"], source=source,
                pred_params=form.pred_params(), file=data.get("file"), path=data.get("path") or "",
                integration=data.get("integration"), table_name=data.get("table_name") or "")
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, "Predictions were registered; validation is running.")
            return redirect("projects:dataset_detail", project_id=project.id, dataset_id=data["dataset"].id)
    tabs = _tabs(reverse("projects:predictions_register", args=[project.id]), DATASET_FORM_SOURCES, source)
    return _form_page(request, project, membership, REGISTER_TEMPLATE, nav="datasets", form=form, tabs=tabs,
                      title="Register Predictions", cancel_url=reverse("projects:dataset_list", args=[project.id]))
