"""Issue 14, second round: what a new user hit at the evaluation step. The fix buttons keep the protected-feature
ticks, the "needs protected features" error only when none is chosen, no label/prediction/timestamp offered as a
protected feature, one primary action, a refused Start says why at the top of the checks, and an edited re-run's
heading. Django's test client posts exactly what the page's form holds."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from django.urls import reverse

from stresstests import services
from stresstests.models import RunStatus, StressTestRun

from . import data
from .conftest import upload as upload_file
from .test_wizard_checks import configured_with_model, post_upload, step_url, with_timestamp

pytestmark = pytest.mark.django_db

BIAS = "TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"


def fraud_like(seed: int) -> pd.DataFrame:
    """A country (proposed), a category, and a `preds` column of probabilities that the engine leaves out."""
    rng = np.random.default_rng(seed)
    frame = data.frame(seed=seed)
    frame.insert(3, "country", rng.choice(["IT", "NO", "PE"], len(frame)))
    frame.insert(4, "category", rng.choice(["food", "travel"], len(frame)))
    score = data.WEIGHTS["bias"] + data.WEIGHTS["age"] * frame["age"] + data.WEIGHTS["income"] * frame["income"]
    frame["preds"] = (1 / (1 + np.exp(-score))).round(4)
    return frame


def bias_draft(client, draft, registered_model, *, evaluation_frame):
    run = configured_with_model(client, draft, registered_model, categories=[BIAS, "TEST_CATEGORY_TYPE_DRIFT"])
    post_upload(client, run, "reference", "ref", fraud_like(1))
    post_upload(client, run, "evaluation", "eval", evaluation_frame)
    run.refresh_from_db()
    return run


def start_form(page: str) -> str:
    match = re.search(r'<form[^>]*id="wizard-start-form".*?</form>', page, re.S)
    assert match, "the evaluation step has no start form"
    return match.group(0)


def checked(page: str, column: str) -> bool:
    return re.search(rf'value="{column}" id="id_protected_features_\d+" checked', page) is not None


def test_a_fix_button_carries_and_saves_the_protected_features_ticked_in_the_same_form(
    client_for, owner, draft, registered_model, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    run = bias_draft(client, draft, registered_model, evaluation_frame=with_timestamp(fraud_like(2)))
    page = client.get(step_url(run, "evaluation")).content.decode()
    form = start_form(page)
    # The fix button and the ticks are in one form, so the browser sends both to the fix endpoint.
    assert 'name="fix" value="timestamp:timestamp"' in form and 'name="protected_features"' in form
    assert checked(form, "country") and not checked(form, "category")

    # The user unticks country, ticks category, then presses "Use timestamp as the timestamp column".
    client.post(reverse("stresstests:wizard_fix_column", args=[run.id]),
                {"fix": "timestamp:timestamp", "protected_features_shown": "1", "protected_features": ["category"]})
    run.refresh_from_db()
    assert run.config["data_params"]["timestamp_col"] == "timestamp"
    assert run.config["data_params"]["protected_features"] == ["category"]
    page = client.get(step_url(run, "evaluation")).content.decode()
    assert checked(page, "category") and not checked(page, "country")

    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("stresstests:wizard_start", args=[run.id]),
                    {"protected_features_shown": "1", "protected_features": ["category"]})
    run = StressTestRun.objects.get(id=run.id)
    assert run.status == RunStatus.REQUESTED
    assert services.effective_test_run_config(run)["data_params"]["protected_features"] == ["category"]


def test_unticking_every_protected_feature_before_a_fix_is_saved_too(client_for, owner, draft, registered_model):
    client = client_for(owner)
    run = bias_draft(client, draft, registered_model, evaluation_frame=with_timestamp(fraud_like(2)))
    client.post(reverse("stresstests:wizard_fix_column", args=[run.id]),
                {"fix": "ignore:timestamp", "protected_features_shown": "1"})
    run.refresh_from_db()
    assert "protected_features" not in run.config["data_params"]
    assert run.config["data_params"]["ignored_columns"] == ["timestamp"]


def test_the_needs_protected_features_error_shows_only_when_none_is_ticked(client_for, owner, draft, registered_model):
    client = client_for(owner)
    run = bias_draft(client, draft, registered_model, evaluation_frame=fraud_like(2))
    page = client.get(step_url(run, "evaluation")).content.decode()
    assert checked(page, "country")  # proposed, so ticked
    assert "Bias and Fairness needs protected features" not in page


def test_label_prediction_and_timestamp_columns_are_never_offered_as_protected_features(
    client_for, owner, draft, registered_model
):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model, categories=[BIAS])
    post_upload(client, run, "reference", "ref", with_timestamp(fraud_like(1)))
    post_upload(client, run, "evaluation", "eval", with_timestamp(fraud_like(2)))
    page = client.get(step_url(run, "evaluation")).content.decode()
    offered = re.findall(r'name="protected_features" value="([^"]+)"', page)
    assert "country" in offered and "category" in offered
    assert not {"preds", data.LABEL, "timestamp"} & set(offered), offered
    refused = client.post(reverse("stresstests:wizard_start", args=[run.id]),
                          {"protected_features_shown": "1", "protected_features": ["preds"]}, follow=True)
    assert "cannot be protected features" in refused.content.decode()
    run.refresh_from_db()
    assert run.status == RunStatus.DRAFT


def test_the_last_step_has_one_primary_action_and_a_refused_start_says_why_at_the_top_of_the_checks(
    client_for, owner, draft, registered_model
):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    post_upload(client, run, "reference", "ref", data.frame(seed=1))
    post_upload(client, run, "evaluation", "eval", with_timestamp(data.frame(seed=2)))
    page = client.get(step_url(run, "evaluation")).content.decode()
    assert "Next starts the stress test." not in page
    assert page.count('class="primary"') == 1 and "Start the stress test" in page

    response = client.post(reverse("stresstests:wizard_start", args=[run.id]))
    assert "not_started=1" in response["Location"]
    page = client.get(response["Location"]).content.decode()
    checks = page[page.index('id="wizard-checks"'):]
    top = checks[:checks.index('id="wizard-start-form"')]
    assert "The stress test did not start." in top
    assert "The datasets disagree on column “timestamp” (only in the evaluation dataset)." in top
    run.refresh_from_db()
    assert run.status == RunStatus.DRAFT


def test_an_edited_re_run_is_headed_edit_and_re_run(client_for, owner, draft, registered_model):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    run.status = RunStatus.SUCCEEDED
    run.save(update_fields=["status"])
    page = client.post(reverse("stresstests:run_rerun_edit", args=[run.id]), follow=True).content.decode()
    assert re.search(r"<h1>\s*Edit and re-run\s*</h1>", page)
    assert "<h1>Create Stress Test</h1>" not in page


def test_the_references_label_column_is_proposed_for_the_evaluation_upload(client_for, owner, draft, registered_model):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    post_upload(client, run, "reference", "ref", data.frame(seed=1))
    for source in ("upload", "connection"):
        page = client.get(step_url(run, "evaluation") + f"?source={source}").content.decode()
        field = re.search(r'<input[^>]*name="evaluation-label_col"[^>]*>', page).group(0)
        assert f'value="{data.LABEL}"' in field, (source, field)


def test_edit_and_re_run_with_a_valid_model_does_not_check_it_again(client_for, owner, draft, registered_model):
    from stresstests import wizard_checks

    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    post_upload(client, run, "reference", "ref", data.frame(seed=1))
    run.refresh_from_db()
    registered_model.validity_status = "VALIDITY_STATUS_VALID"
    registered_model.save(update_fields=["validity_status"])
    StressTestRun.objects.filter(id=run.id).update(status=RunStatus.SUCCEEDED, checks={})  # e.g. started by the API
    client.post(reverse("stresstests:run_rerun_edit", args=[run.id]))
    rerun = StressTestRun.objects.get(rerun_of=run)
    response = client.post(step_url(rerun, "model"), {"source": "registered", "model": registered_model.id})
    assert response["Location"] == step_url(rerun, "reference")  # moves on: no wait for a sandbox check
    rerun.refresh_from_db()
    assert wizard_checks.model_check(rerun)["status"] == wizard_checks.CHECK_OK


def test_model_and_dataset_names_default_to_the_uploaded_files_name(client_for, owner, draft, project):
    client = client_for(owner)
    client.post(step_url(draft, "configuration"), {"config_mode": "project", "name": "Names"})
    client.post(step_url(draft, "model"), {"source": "upload", "name": "", "files": [
        upload_file("model.py", data.MODEL_PY.encode()), upload_file("weights.json", data.weights_json())]})
    draft.refresh_from_db()
    assert draft.model.name == "weights"  # the artifact names it, not model.py
    from stresstests import wizard_checks
    wizard_checks.model_check_execute(draft.id)
    answer = client.post(step_url(draft, "reference"), {
        "source": "upload", "reference-name": "", "reference-label_col": data.LABEL,
        "reference-file": upload_file("ref_file.csv", data.csv_bytes(data.frame(seed=1)))})
    assert answer.status_code == 302, re.findall(r'class="errors?[^"]*"[^>]*>(.*?)</', answer.content.decode(), re.S)
    draft.refresh_from_db()
    assert draft.reference_dataset.name == "ref_file"
    project.datasets.filter(id=draft.reference_dataset_id).update(name="taken")
    values = {"source": "upload", "evaluation-name": "", "evaluation-label_col": data.LABEL,
              "evaluation-file": upload_file("taken.csv", data.csv_bytes(data.frame(seed=2)))}
    client.post(step_url(draft, "evaluation"), values)
    draft.refresh_from_db()
    assert draft.evaluation_dataset.name == "taken 2"  # the file's name was taken: the next free one
