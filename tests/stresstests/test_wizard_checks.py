"""Issue 14 as a new user meets the wizard: each step checks what it can, defaults that show the data's story,
protected features asked for, registered rows picked from lists, one-click Re-run, drafts in the list.

The model check's body (wizard_checks.model_check_execute, the Celery job's service) is called in place of a worker
here; tests/e2e/test_wizard_fraud.py runs it on a real worker.
"""
from __future__ import annotations

import pandas as pd
import pytest
from django.urls import reverse

from projects import services as project_services
from projects.registries import services as registry, validation
from projects.models import TestCategory as Category
from stresstests import execution, services, wizard_checks
from stresstests.models import RunStatus, StressTestReport, StressTestRun

from . import data
from .conftest import upload

pytestmark = pytest.mark.django_db

GENDERS = ["f", "m"]


def step_url(run, step: str) -> str:
    return reverse("stresstests:wizard_step", kwargs={"run_id": run.id, "step": step})


def register_dataset(owner, project, name: str, frame: pd.DataFrame, **params):
    return registry.dataset_register(user=owner, project=project, name=name, source="upload", validate=False,
                                     data_params={"label_col": data.LABEL, **params},
                                     file=upload(f"{name}.csv", data.csv_bytes(frame)))


def with_timestamp(frame: pd.DataFrame) -> pd.DataFrame:
    dated = frame.copy()
    dated.insert(3, "timestamp", pd.date_range("2024-01-01", periods=len(frame), freq="h").strftime("%Y-%m-%d"))
    return dated


def configured_with_model(client, draft, registered_model, categories=("TEST_CATEGORY_TYPE_DRIFT",)):
    client.post(step_url(draft, "configuration"), {"config_mode": "custom", "categories": list(categories),
                                                   "name": "Checked", "random_seed": "3"})
    client.post(step_url(draft, "model"), {"source": "registered", "model": registered_model.id})
    draft.refresh_from_db()
    return draft


def post_upload(client, run, role, name, frame, **extra):
    values = {"source": "upload", f"{role}-name": name, f"{role}-label_col": data.LABEL,
              f"{role}-file": upload(f"{name}.csv", data.csv_bytes(frame))}
    values.update({f"{role}-{key}": value for key, value in extra.items()})
    return client.post(step_url(run, role), values)


def execute(run_id):
    execution.run_execute(run_id)
    return StressTestRun.objects.get(id=run_id)


# ---- item 1: a run never fails for something the wizard could have caught ----------------------------------------
def test_an_evaluation_set_with_an_extra_timestamp_column_gets_a_one_click_fix_not_a_failed_run(
    client_for, owner, draft, registered_model, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    post_upload(client, run, "reference", "ref", data.frame(seed=1))
    # Every optional field left empty, as shipped: the evaluation file has a timestamp column the reference lacks.
    response = post_upload(client, run, "evaluation", "eval", with_timestamp(data.frame(seed=2, shift=10)))
    run.refresh_from_db()
    assert run.status == RunStatus.DRAFT  # not queued: the evaluation step says why, with its fixes
    assert response["Location"] == step_url(run, "evaluation")
    page = client.get(response["Location"]).content.decode()
    assert "<code>timestamp</code> is only in the evaluation dataset and holds dates." in page
    assert "Use timestamp as the timestamp column" in page and "Ignore timestamp" in page

    client.post(reverse("stresstests:wizard_fix_column", args=[run.id]), {"column": "timestamp", "action": "timestamp"})
    page = client.get(step_url(run, "evaluation")).content.decode()
    assert "✓ The two datasets have the same columns; timestamp column: <code>timestamp</code>." in page
    with django_capture_on_commit_callbacks(execute=False):
        started = client.post(reverse("stresstests:wizard_start", args=[run.id]))
    assert started["Location"] == reverse("stresstests:run_detail", args=[run.id])
    run = execute(run.id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.config["data_params"]["timestamp_col"] == "timestamp"


def test_ignoring_the_extra_column_also_gives_a_run_that_succeeds(
    client_for, owner, draft, registered_model, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    post_upload(client, run, "reference", "ref", data.frame(seed=1))
    post_upload(client, run, "evaluation", "eval", with_timestamp(data.frame(seed=2)))
    client.post(reverse("stresstests:wizard_fix_column", args=[run.id]), {"column": "timestamp", "action": "ignore"})
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("stresstests:wizard_start", args=[run.id]))
    run = execute(run.id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.config["data_params"]["ignored_columns"] == ["timestamp"]


def test_start_refuses_while_the_datasets_disagree_and_a_fix_must_name_a_disagreeing_column(
    client_for, owner, draft, registered_model
):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    post_upload(client, run, "reference", "ref", data.frame(seed=1))
    post_upload(client, run, "evaluation", "eval", with_timestamp(data.frame(seed=2)))
    refused = client.post(reverse("stresstests:wizard_start", args=[run.id]), follow=True).content.decode()
    assert "The datasets disagree on column “timestamp” (only in the evaluation dataset)." in refused
    wrong = client.post(reverse("stresstests:wizard_fix_column", args=[run.id]), {"column": "age", "action": "ignore"},
                        follow=True).content.decode()
    assert "“age” cannot be fixed that way" in wrong
    run.refresh_from_db()
    assert run.status == RunStatus.DRAFT and "data_params" not in run.config


def test_datetime_like_columns_are_told_apart_from_numbers_and_words():
    assert wizard_checks.is_datetime_like(pd.Series(["2024-01-01", "2024-02-03", None]))
    assert wizard_checks.is_datetime_like(pd.Series(pd.date_range("2024-01-01", periods=3)))
    assert not wizard_checks.is_datetime_like(pd.Series(["1700000000", "1700000300"]))
    assert not wizard_checks.is_datetime_like(pd.Series([1.5, 2.5]))
    assert not wizard_checks.is_datetime_like(pd.Series(["Rome", "Oslo"]))


def test_a_model_py_without_its_artifact_fails_at_the_model_step_not_at_the_last_next(
    client_for, owner, draft
):
    client = client_for(owner)
    client.post(step_url(draft, "configuration"), {"config_mode": "project", "name": "No artifact"})
    response = client.post(step_url(draft, "model"), {"source": "upload", "name": "scorer",
                                                      "files": [upload("model.py", data.MODEL_PY.encode())]})
    assert response["Location"] == step_url(draft, "model") + "?continue=1"  # no ✓ before the worker answers
    wizard_checks.model_check_execute(draft.id)
    check_url = reverse("stresstests:wizard_model_check", args=[draft.id, "model"]) + "?continue=1"
    # The poll reloads the whole step, which shows why and opens on the upload tab.
    assert client.get(check_url, HTTP_HX_REQUEST="true")["HX-Redirect"] == step_url(draft, "model")
    panel = client.get(check_url.removesuffix("?continue=1"), HTTP_HX_REQUEST="true")
    assert "✗ scorer failed its check" in panel.content.decode() and "weights.json" in panel.content.decode()
    # The model step is not done: a later step sends the user back to it.
    assert client.get(step_url(draft, "reference"))["Location"] == step_url(draft, "model")
    page = client.get(step_url(draft, "model")).content.decode()
    assert "weights.json" in page and 'id="source-upload" href="?source=upload" hx-get' in page
    assert 'aria-current="true">Upload a model file' in page and 'value="scorer"' in page  # ready to upload again

    # The same name again, now with the artifact: the failed model is replaced, and the check passes.
    failed_model_id = StressTestRun.objects.get(id=draft.id).model_id
    again = client.post(step_url(draft, "model"), {"source": "upload", "name": "scorer", "files": [
        upload("model.py", data.MODEL_PY.encode()), upload("weights.json", data.weights_json())]})
    assert again["Location"] == step_url(draft, "model") + "?continue=1"
    draft.refresh_from_db()
    assert draft.model.name == "scorer" and draft.model_id != failed_model_id
    assert not draft.project.models.filter(id=failed_model_id).exists()
    wizard_checks.model_check_execute(draft.id)
    assert client.get(check_url, HTTP_HX_REQUEST="true")["HX-Redirect"] == step_url(draft, "reference")


def test_the_model_is_called_on_reference_rows_once_they_are_known(
    client_for, owner, draft, registered_model, project
):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    wizard_checks.model_check_execute(run.id)
    run.refresh_from_db()
    assert wizard_checks.model_check(run)["message"].startswith("scorer loads in the sandbox; it is called on")
    # A reference set without the model's `income` column: the call on its rows fails, before any run.
    post_upload(client, run, "reference", "ref", data.frame(seed=1).drop(columns=["income"]))
    wizard_checks.model_check_execute(run.id)
    page = client.get(step_url(run, "reference")).content.decode()
    assert "✗ scorer failed its check" in page and "income" in page
    assert client.get(step_url(run, "evaluation"))["Location"] == step_url(run, "reference")


def test_a_model_check_answer_for_an_earlier_choice_is_dropped(client_for, owner, draft, registered_model, project):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    post_upload(client, run, "reference", "ref", data.frame(seed=1))
    before = dict(StressTestRun.objects.get(id=run.id).checks["model"])
    other = register_dataset(owner, project, "other", data.frame(seed=5))
    services.run_set_dataset(user=owner, run=StressTestRun.objects.get(id=run.id), role="reference", dataset=other)
    run.refresh_from_db()
    assert run.checks["model"]["dataset_id"] == str(other.id) != before["dataset_id"]
    assert run.checks["model"]["status"] == wizard_checks.CHECK_PENDING


# ---- item 2: the default configuration covers drift ---------------------------------------------------------------
def test_a_new_projects_configuration_covers_every_category_that_applies_drift_included(owner, workspace):
    project = project_services.project_create(user=owner, workspace=workspace, name="New",
                                              model_task="MODEL_TASK_BINARY_CLASSIFICATION")
    assert Category.DRIFT in project.stress_test_categories
    # Bias and Fairness needs protected features; the Security Risk detections are off by default, as in RIME.
    off = {Category.BIAS_AND_FAIRNESS, Category.DATA_POISONING_DETECTION, Category.EVASION_ATTACK_DETECTION}
    assert set(project.stress_test_categories) == set(Category.values) - off


def test_a_run_from_project_configuration_reports_drift_by_default(
    client_for, owner, draft, registered_model, registered_datasets, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    client.post(step_url(draft, "configuration"), {"config_mode": "project", "name": "Defaults"})
    client.post(step_url(draft, "model"), {"source": "registered", "model": registered_model.id})
    client.post(step_url(draft, "reference"), {"source": "registered", "reference-dataset": "ref"})
    with django_capture_on_commit_callbacks(execute=False):
        client.post(step_url(draft, "evaluation"), {"source": "registered", "evaluation-dataset": "eval"})
    run = execute(draft.id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    drift = next(c for c in StressTestReport.objects.get(run=run).data["categories"] if c["name"] == "Drift")
    assert drift["total"] > 0 and any(test["test_cases"] for test in drift["tests"])


# ---- item 3: Bias and Fairness asks for protected features ----------------------------------------------------------
def gendered(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    import numpy as np

    result = frame.copy()
    result.insert(3, "gender", np.random.default_rng(seed).choice(GENDERS, len(frame)))
    return result


def test_bias_and_fairness_asks_for_protected_features_proposing_likely_ones(
    client_for, owner, draft, registered_model, project, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model,
                                categories=["TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS", "TEST_CATEGORY_TYPE_DRIFT"])
    post_upload(client, run, "reference", "ref", gendered(data.frame(seed=1), 1))
    response = post_upload(client, run, "evaluation", "eval", gendered(data.frame(seed=2), 2))
    assert response["Location"] == step_url(run, "evaluation")  # not queued: it needs protected features first
    page = client.get(step_url(run, "evaluation")).content.decode()
    assert "Protected features" in page
    assert 'value="gender" id="id_protected_features_3" checked' in page and "gender (proposed)" in page
    assert 'value="city" id="id_protected_features_2">' in page  # offered, not proposed

    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("stresstests:wizard_start", args=[run.id]), {"protected_features": ["gender"]})
    run = execute(run.id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.config["data_params"]["protected_features"] == ["gender"]
    fairness = next(c for c in StressTestReport.objects.get(run=run).data["categories"]
                    if c["category"] == "TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS")
    assert any(test["status"] == "completed" for test in fairness["tests"])
    assert not any("needs protected features" in (test.get("skip_reason") or "") for test in fairness["tests"])


def test_start_without_any_protected_feature_is_refused_with_a_message(client_for, owner, draft, registered_model):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model, categories=["TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"])
    post_upload(client, run, "reference", "ref", data.frame(seed=1))
    post_upload(client, run, "evaluation", "eval", data.frame(seed=2))
    page = client.post(reverse("stresstests:wizard_start", args=[run.id]), {"protected_features": []},
                       follow=True).content.decode()
    assert "Bias and Fairness needs protected features" in page
    run.refresh_from_db()
    assert run.status == RunStatus.DRAFT


# ---- item 5: registered datasets and models are picked from lists ---------------------------------------------------
def test_registered_datasets_are_listed_with_rows_columns_created_and_validity(
    client_for, owner, draft, registered_model, registered_datasets
):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    reference = registered_datasets[0]
    validation.dataset_validate(reference)
    page = client.get(step_url(run, "reference")).content.decode()
    assert 'type="search" id="reference-dataset-search"' in page
    row = page[page.index(f'id="id_reference_dataset_{reference.id}"'):]
    row = row[:row.index("</tr>")]
    assert "<td>300</td>" in row and "<td>4</td>" in row and "Valid" in row
    assert reference.created_at.strftime("%Y-%m-%d") in row
    chosen = client.post(step_url(run, "reference"), {"source": "registered", "reference-dataset": str(reference.id)})
    assert chosen["Location"] == step_url(run, "evaluation")


def test_an_invalid_registered_dataset_is_refused_with_its_reason(client_for, owner, draft, registered_model, project):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    broken = register_dataset(owner, project, "broken", data.frame(seed=1), label_col="missing")
    validation.dataset_validate(broken)
    page = client.post(step_url(run, "reference"), {"source": "registered", "reference-dataset": str(broken.id)})
    assert "Dataset broken is invalid: label_col “missing” is not a column" in page.content.decode()


def test_after_uploading_the_reference_the_evaluation_step_opens_on_the_upload_tab(
    client_for, owner, draft, registered_model
):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    post_upload(client, run, "reference", "ref", data.frame(seed=1))
    page = client.get(step_url(run, "evaluation")).content.decode()
    assert 'id="source-upload" href="?source=upload"' in page
    assert page.index('aria-current="true"') > page.index('id="source-upload"') > page.index('id="source-registered"')


# ---- item 6: Re-run in one click, drafts in the list ---------------------------------------------------------------
@pytest.fixture
def finished_run(owner, complete_draft, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_submit(user=owner, run=complete_draft)
    StressTestRun.objects.filter(id=run.id).update(status=RunStatus.SUCCEEDED, created_at=run.created_at.replace(
        year=2020))
    return StressTestRun.objects.get(id=run.id)


def test_re_run_is_one_click_a_new_queued_run_with_its_own_creation_time(
    client_for, owner, finished_run, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    page = client.get(reverse("stresstests:run_detail", args=[finished_run.id])).content.decode()
    assert ">Re-run</button>" in page and ">Edit and re-run</button>" in page
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("stresstests:run_rerun", args=[finished_run.id]))
    rerun = StressTestRun.objects.get(rerun_of=finished_run)
    assert response["Location"] == reverse("stresstests:run_detail", args=[rerun.id])
    assert rerun.status == RunStatus.REQUESTED and len(callbacks) == 1
    assert rerun.config["categories"] == ["TEST_CATEGORY_TYPE_DRIFT"]
    assert rerun.config["run_time_info"] == {"random_seed": 7}
    assert rerun.created_at > finished_run.created_at and rerun.created_at.year > 2020


def test_a_draft_finished_later_shows_when_it_was_queued(owner, complete_draft, django_capture_on_commit_callbacks):
    StressTestRun.objects.filter(id=complete_draft.id).update(created_at=complete_draft.created_at.replace(year=2020))
    complete_draft.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_submit(user=owner, run=complete_draft)
    assert StressTestRun.objects.get(id=run.id).created_at.year > 2020


def test_drafts_are_listed_with_a_draft_status_and_can_be_resumed_or_deleted(client_for, owner, draft, member):
    client = client_for(owner)
    listing = client.get(reverse("stresstests:run_list", args=[draft.project_id])).content.decode()
    row = listing[listing.index('<tr class="draft">'):]
    row = row[:row.index("</tr>")]
    assert draft.name in row and '<span class="status draft">Draft</span>' in row
    assert reverse("stresstests:run_detail", args=[draft.id]) in row and "Resume" in row
    assert client.get(reverse("stresstests:run_detail", args=[draft.id]))["Location"] == step_url(draft, "configuration")

    delete_url = reverse("stresstests:run_delete_draft", args=[draft.id])
    assert client_for(member).post(delete_url).status_code == 403
    assert client_for(owner).get(delete_url).status_code == 405
    response = client_for(owner).post(delete_url)
    assert response["Location"] == reverse("stresstests:run_list", args=[draft.project_id])
    assert not StressTestRun.objects.filter(id=draft.id).exists()


def test_a_submitted_run_cannot_be_deleted_as_a_draft(client_for, owner, finished_run):
    page = client_for(owner).post(reverse("stresstests:run_delete_draft", args=[finished_run.id]), follow=True)
    assert "already submitted" in page.content.decode()
    assert StressTestRun.objects.filter(id=finished_run.id).exists()


# ---- the new endpoints: methods, roles, tenants ---------------------------------------------------------------------
def test_the_check_fix_and_start_endpoints_are_for_writers_of_the_workspace_only(client_for, draft, member, outsider,
                                                                                 owner):
    posts = [reverse("stresstests:wizard_fix_column", args=[draft.id]),
             reverse("stresstests:wizard_start", args=[draft.id]),
             reverse("stresstests:run_delete_draft", args=[draft.id])]
    check = reverse("stresstests:wizard_model_check", args=[draft.id, "model"])
    for url in posts:
        assert client_for(owner).get(url).status_code == 405
        assert client_for(member).post(url).status_code == 403
        assert client_for(outsider).post(url).status_code == 404
    assert client_for(owner).post(check).status_code == 405
    assert client_for(member).get(check).status_code == 403
    assert client_for(outsider).get(check).status_code == 404
    assert StressTestRun.objects.get(id=draft.id).status == RunStatus.DRAFT


def test_start_before_the_datasets_are_chosen_goes_to_the_first_step_not_done(client_for, owner, draft):
    response = client_for(owner).post(reverse("stresstests:wizard_start", args=[draft.id]))
    assert response["Location"] == step_url(draft, "configuration")
    assert StressTestRun.objects.get(id=draft.id).status == RunStatus.DRAFT


def test_a_date_column_on_both_sides_is_proposed_as_the_timestamp_before_the_run(
    client_for, owner, draft, registered_model, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    uploaded = post_upload(client, run, "reference", "ref", with_timestamp(data.frame(seed=1)))
    note = client.get(uploaded["Location"]).content.decode()
    assert "timestamp holds dates: the evaluation step proposes it as the timestamp column." in note
    response = post_upload(client, run, "evaluation", "eval", with_timestamp(data.frame(seed=2)))
    assert response["Location"] == step_url(run, "evaluation")
    page = client.get(step_url(run, "evaluation")).content.decode()
    assert "<code>timestamp</code> holds dates." in page and "Use timestamp as the timestamp column" in page
    client.post(reverse("stresstests:wizard_fix_column", args=[run.id]), {"column": "timestamp", "action": "timestamp"})
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("stresstests:wizard_start", args=[run.id]))
    run = execute(run.id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.config["data_params"]["timestamp_col"] == "timestamp"
    report = StressTestReport.objects.get(run=run).data
    tested = {feature for c in report["categories"] for t in c["tests"] for case in t["test_cases"]
              for feature in case.get("features") or []}
    assert tested and "timestamp" not in tested


def test_a_score_column_in_the_evaluation_set_only_is_left_to_the_engine_not_shown_as_a_mismatch(
    client_for, owner, draft, registered_model, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    post_upload(client, run, "reference", "ref", data.frame(seed=1))
    evaluation = data.frame(seed=2)
    evaluation["score"] = data.predictions_frame(evaluation)["pred"]  # the model's output, carried by the file
    with django_capture_on_commit_callbacks(execute=False):
        response = post_upload(client, run, "evaluation", "eval", evaluation)
    assert response["Location"] == reverse("stresstests:run_detail", args=[run.id])  # queued at once
    run = execute(run.id)
    assert run.status == RunStatus.SUCCEEDED, run.error


def test_the_data_check_names_a_text_feature_that_is_no_column_before_the_run(owner, draft, project):
    draft.reference_dataset = register_dataset(owner, project, "ref", data.frame(seed=1), text_features=["review"])
    draft.evaluation_dataset = register_dataset(owner, project, "eval", data.frame(seed=2))
    draft.save()
    problems = wizard_checks.draft_data_check(draft).problems
    assert any("Text feature(s) “review” are not columns of the reference dataset" in p for p in problems), problems
