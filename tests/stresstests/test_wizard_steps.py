"""Each wizard step: saves valid input, re-renders invalid input with a clear message (200), keeps it on reload."""
from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from stresstests import wizard_checks
from stresstests.models import RunStatus, StressTestRun

from . import data
from .conftest import upload

pytestmark = pytest.mark.django_db


def step_url(run, step: str) -> str:
    return reverse("stresstests:wizard_step", kwargs={"run_id": run.id, "step": step})


def configure(client, run, **overrides):
    values = {"config_mode": "custom", "categories": ["TEST_CATEGORY_TYPE_DRIFT"], "name": "Nightly run",
              "random_seed": "11", "global_test_sensitivity": ""}
    values.update(overrides)
    return client.post(step_url(run, "configuration"), values)


# ---- creating the draft and moving between steps ----------------------------------------------------------------
def test_create_stress_test_makes_a_draft_and_opens_the_first_step(client_for, owner, project):
    response = client_for(owner).post(reverse("stresstests:run_create", args=[project.id]))
    run = StressTestRun.objects.get(project=project)
    assert run.status == RunStatus.DRAFT
    assert run.name.startswith("Fraud - ")
    assert response["Location"] == step_url(run, "configuration")


def test_create_stress_test_reuses_the_users_untouched_draft(client_for, owner, project):
    """Review 15: each click on Create Stress Test made a new empty draft with the same name (16 after retries)."""
    client = client_for(owner)
    url = reverse("stresstests:run_create", args=[project.id])
    first, again = client.post(url), client.post(url)
    assert first["Location"] == again["Location"] and StressTestRun.objects.filter(project=project).count() == 1
    run = StressTestRun.objects.get(project=project)
    configure(client, run)
    client.post(url)   # the first draft has a saved step now: it is the user's work, a new draft is made
    assert StressTestRun.objects.filter(project=project, status=RunStatus.DRAFT).count() == 2


def test_create_stress_test_refuses_get_viewers_and_outsiders(client, client_for, project, member, outsider):
    url = reverse("stresstests:run_create", args=[project.id])
    assert client_for(member).get(url).status_code == 405
    assert client_for(member).post(url).status_code == 403
    assert client_for(outsider).post(url).status_code == 404
    assert not StressTestRun.objects.exists()


def test_a_deep_link_to_a_later_step_goes_to_the_first_incomplete_one(client_for, owner, draft):
    response = client_for(owner).get(step_url(draft, "evaluation"))
    assert response.status_code == 302
    assert response["Location"] == step_url(draft, "configuration")


def test_the_wizard_is_for_writers_of_the_workspace_only(client_for, draft, member, outsider):
    assert client_for(member).get(step_url(draft, "configuration")).status_code == 403
    assert client_for(outsider).get(step_url(draft, "configuration")).status_code == 404


def test_the_wizard_refuses_other_methods_and_unknown_steps(client_for, owner, draft):
    client = client_for(owner)
    assert client.put(step_url(draft, "configuration")).status_code == 405
    assert client.get(step_url(draft, "results")).status_code == 404


# ---- step 1 -----------------------------------------------------------------------------------------------------
def test_configuration_saves_custom_categories_and_advanced_options(client_for, owner, draft):
    response = configure(client_for(owner), draft, global_test_sensitivity="TEST_SENSITIVITY_MORE_SENSITIVE")
    assert response["Location"] == step_url(draft, "model")
    draft.refresh_from_db()
    assert draft.config_mode == "custom"
    assert draft.name == "Nightly run"
    assert draft.config == {
        "categories": ["TEST_CATEGORY_TYPE_DRIFT"],
        "test_suite_config": {"global_test_sensitivity": "TEST_SENSITIVITY_MORE_SENSITIVE"},
        "run_time_info": {"random_seed": 11},
    }


def test_custom_without_a_risk_type_rerenders_with_a_message(client_for, owner, draft):
    response = configure(client_for(owner), draft, categories=[])
    assert response.status_code == 200
    assert "Choose at least one type of risk to evaluate" in response.content.decode()
    # Without JavaScript the risk types appear once Custom was chosen.
    assert "Security Risk" in response.content.decode()
    draft.refresh_from_db()
    assert draft.wizard_step == ""


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", "", "This field is required."),
    ("random_seed", "-3", "greater than or equal to 0"),
    ("config_mode", "everything", "Select a valid choice"),
])
def test_configuration_rejects_bad_values_with_a_message(client_for, owner, draft, field, value, message):
    response = configure(client_for(owner), draft, **{field: value})
    assert response.status_code == 200
    assert message in response.content.decode()


def test_choosing_custom_swaps_in_the_risk_types_grouped_by_risk(client_for, owner, draft):
    response = client_for(owner).get(
        step_url(draft, "configuration"), {"config_mode": "custom"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="risk-types"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert body.index("Operational Risk") < body.index("Security Risk") < body.index("Fairness Risk")
    assert 'value="TEST_CATEGORY_TYPE_ADVERSARIAL"' in body


def test_a_full_page_and_an_htmx_post_render_the_same_step_differently(client_for, owner, draft):
    client = client_for(owner)
    full = client.post(step_url(draft, "configuration"), {"config_mode": "custom", "name": "x"})
    partial = client.post(step_url(draft, "configuration"), {"config_mode": "custom", "name": "x"},
                          HTTP_HX_REQUEST="true")
    assert "<html" in full.content.decode() and "<html" not in partial.content.decode()
    assert 'id="step-form"' in partial.content.decode()


def test_a_valid_htmx_post_redirects_the_browser_to_the_next_step(client_for, owner, draft):
    response = client_for(owner).post(
        step_url(draft, "configuration"), {"config_mode": "project", "name": "x"}, HTTP_HX_REQUEST="true"
    )
    assert response["HX-Redirect"] == step_url(draft, "model")


def test_from_project_configuration_names_the_categories_as_people_read_them(client_for, owner, draft):
    html = client_for(owner).get(reverse("stresstests:wizard_step", args=[draft.id, "configuration"])).content.decode()
    assert ">Model Performance</span>" in html
    assert "Model_Performance" not in html


def test_a_reload_shows_the_saved_configuration(client_for, owner, draft):
    client = client_for(owner)
    configure(client, draft, categories=["TEST_CATEGORY_TYPE_DRIFT", "TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"])
    body = client.get(step_url(draft, "configuration")).content.decode()
    assert 'value="Nightly run"' in body
    assert 'value="11"' in body
    assert '<option value="custom" selected>' in body
    assert 'value="TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS" id="id_category_test_category_type_bias_and_fairness"\n               checked' in body


# ---- step 2 -----------------------------------------------------------------------------------------------------
@pytest.fixture
def configured(client_for, owner, draft):
    configure(client_for(owner), draft)
    draft.refresh_from_db()
    return draft


def post_model_upload(client, run, files, name="scorer"):
    return client.post(step_url(run, "model"), {"source": "upload", "name": name, "tags": "a, b", "files": files})


def test_uploading_a_model_py_with_its_artifact_registers_it_and_moves_on(client_for, owner, configured):
    files = [upload("model.py", data.MODEL_PY.encode()), upload("weights.json", data.weights_json())]
    client = client_for(owner)
    response = post_model_upload(client, configured, files)
    # The step waits for the model check on a worker (here its body runs in place of the worker), then moves on.
    assert response["Location"] == step_url(configured, "model") + "?continue=1"
    check_url = reverse("stresstests:wizard_model_check", args=[configured.id, "model"]) + "?continue=1"
    assert "Checking scorer on a worker" in client.get(check_url, HTTP_HX_REQUEST="true").content.decode()
    wizard_checks.model_check_execute(configured.id)
    assert client.get(check_url, HTTP_HX_REQUEST="true")["HX-Redirect"] == step_url(configured, "reference")
    configured.refresh_from_db()
    assert configured.model.name == "scorer"
    assert configured.model.tags == ["a", "b"]
    assert configured.model.entry_point == "model.py"


@pytest.mark.parametrize(("files", "message"), [
    ([], "Choose a model file"),
    ([("notes.md", b"hello")], "Choose a model file"),
    ([("a.pkl", b"x"), ("b.pkl", b"y")], "Only a model.py comes with artifact files"),
])
def test_a_bad_model_upload_rerenders_with_a_message(client_for, owner, configured, files, message):
    response = post_model_upload(client_for(owner), configured, [upload(n, c) for n, c in files])
    assert response.status_code == 200
    assert message in response.content.decode()
    configured.refresh_from_db()
    assert configured.model is None


def test_a_duplicate_model_name_is_refused(client_for, owner, configured, registered_model):
    response = post_model_upload(client_for(owner), configured, [upload("model.pkl", b"x")], name="scorer")
    assert "A model named “scorer” is already registered" in response.content.decode()


def test_select_model_lists_the_project_models_and_keeps_the_choice_on_reload(
    client_for, owner, configured, registered_model
):
    client = client_for(owner)
    response = client.post(step_url(configured, "model"), {"source": "registered", "model": registered_model.id})
    assert response["Location"] == step_url(configured, "model") + "?continue=1"  # the model check is under way
    body = client.get(step_url(configured, "model")).content.decode()
    assert f'value="{registered_model.id}" id="id_model_{registered_model.id}" checked> scorer' in body


def test_select_model_without_a_choice_says_so(client_for, owner, configured, registered_model):
    response = client_for(owner).post(step_url(configured, "model"), {"source": "registered", "model": ""})
    assert response.status_code == 200
    assert "Choose a registered model." in response.content.decode()


def test_the_model_sources_swap_with_htmx_and_work_as_links(client_for, owner, configured):
    client = client_for(owner)
    partial = client.get(step_url(configured, "model"), {"source": "registry"}, HTTP_HX_REQUEST="true",
                         HTTP_HX_TARGET="step-source")
    body = partial.content.decode()
    assert "<html" not in body and "Registry name" in body and "URI or path" in body and '<input type="password" name="secret"' in body
    full = client.get(step_url(configured, "model"), {"source": "upload"}).content.decode()
    assert "<html" in full and "Select File" in full and "Drag a .pkl or .py model file" in full


def test_an_unknown_registry_is_named_in_the_error(client_for, owner, configured):
    response = client_for(owner).post(step_url(configured, "model"), {
        "source": "registry", "registry": "nowhere", "uri": "models:/fraud/1", "name": "remote",
    })
    assert response.status_code == 200
    assert "No registry named “nowhere” in this workspace" in response.content.decode()


# ---- steps 3 and 4 ----------------------------------------------------------------------------------------------
@pytest.fixture
def with_model(client_for, owner, configured, registered_model):
    client_for(owner).post(step_url(configured, "model"), {"source": "registered", "model": registered_model.id})
    configured.refresh_from_db()
    return configured


def post_upload(client, run, role, *, name="ref", label="label", file=None, **extra):
    values = {"source": "upload", f"{role}-name": name, f"{role}-label_col": label,
              f"{role}-file": file or upload("ref.csv", data.csv_bytes(data.frame()))}
    values.update({f"{role}-{key}": value for key, value in extra.items()})
    return client.post(step_url(run, role), values)


def test_an_uploaded_reference_is_checked_registered_and_its_columns_listed(client_for, owner, with_model):
    client = client_for(owner)
    response = post_upload(client, with_model, "reference")
    assert response["Location"] == step_url(with_model, "evaluation")
    with_model.refresh_from_db()
    assert with_model.reference_dataset.name == "ref"
    assert with_model.reference_dataset.data_params["label_col"] == "label"
    page = client.get(response["Location"]).content.decode()
    assert "ref.csv: 300 rows, columns age, income, city, label; label column “label” found." in page


@pytest.mark.parametrize(("label", "file", "message"), [
    ("target", None, "Label column “target” is not in ref.csv; its columns are age, income, city, label."),
    ("label", upload("ref.txt", b"a,b\n1,2\n"), "ref.txt is not a supported dataset file"),
    ("label", upload("ref.csv", b""), "The submitted file is empty."),
    ("label", upload("ref.csv", b"a,b\n"), "ref.csv has a header (a, b...) but no rows."),
    ("label", upload("ref.csv", b"\x00\x01\x02binary"), "ref.csv is a binary file"),
    ("", None, "This field is required."),
])
def test_a_bad_dataset_upload_rerenders_with_a_clear_message(client_for, owner, with_model, label, file, message):
    response = post_upload(client_for(owner), with_model, "reference", label=label, file=file)
    assert response.status_code == 200
    assert message in response.content.decode()
    with_model.refresh_from_db()
    assert with_model.reference_dataset is None


def test_predictions_are_checked_against_the_dataset(client_for, owner, with_model):
    predictions = upload("p.csv", data.predictions_csv(data.frame(n_rows=10)))
    response = post_upload(client_for(owner), with_model, "reference", with_predictions="on", pred_col="pred",
                           pred_file=predictions)
    assert response.status_code == 200
    assert "p.csv has 10 predictions but the dataset has 300 rows" in response.content.decode()


def test_predictions_need_their_file_or_a_column_of_the_dataset_when_switched_on(client_for, owner, with_model):
    response = post_upload(client_for(owner), with_model, "reference", with_predictions="on")
    assert response.status_code == 200
    assert "Add a predictions file, or name the prediction column of the dataset file." in response.content.decode()


def test_a_prediction_column_inside_the_dataset_file_needs_no_predictions_file(client_for, owner, with_model):
    frame = data.frame().assign(pred=0.5)
    response = post_upload(client_for(owner), with_model, "reference", with_predictions="on", pred_col="pred",
                           file=upload("ref.csv", data.csv_bytes(frame)))
    assert response.status_code == 302
    with_model.refresh_from_db()
    assert with_model.reference_dataset.data_params == {"label_col": "label", "pred_col": "pred"}
    assert with_model.reference_predictions is None


def test_a_named_column_missing_from_the_file_is_refused(client_for, owner, with_model):
    body = post_upload(client_for(owner), with_model, "reference", timestamp_col="when").content.decode()
    assert "“when” is not a column of ref.csv." in body
    body = post_upload(client_for(owner), with_model, "reference", with_predictions="on", pred_col="score").content.decode()
    assert "“score” is not a column of ref.csv." in body


def test_a_timestamp_column_is_kept_with_the_dataset(client_for, owner, with_model):
    frame = data.frame().assign(ts="2024-01-01")
    response = post_upload(client_for(owner), with_model, "reference", timestamp_col="ts",
                           file=upload("ref.csv", data.csv_bytes(frame)))
    assert response.status_code == 302
    with_model.refresh_from_db()
    assert with_model.reference_dataset.data_params["timestamp_col"] == "ts"


def test_an_upload_with_predictions_registers_both(client_for, owner, with_model):
    frame = data.frame()
    response = post_upload(client_for(owner), with_model, "reference", with_predictions="on",
                           pred_file=upload("p.csv", data.predictions_csv(frame)))
    assert response.status_code == 302
    with_model.refresh_from_db()
    assert with_model.reference_predictions.pred_params == {"pred_col": "pred"}
    assert with_model.reference_predictions.model == with_model.model


def test_a_registered_dataset_is_found_by_name(client_for, owner, with_model, registered_datasets):
    client = client_for(owner)
    missing = client.post(step_url(with_model, "reference"), {"source": "registered", "reference-dataset": "nope"})
    assert "No dataset named “nope” in this project. Registered datasets: eval, ref." in missing.content.decode()
    found = client.post(step_url(with_model, "reference"), {"source": "registered", "reference-dataset": "ref"})
    assert found["Location"] == step_url(with_model, "evaluation")
    reference = registered_datasets[0]
    page = client.get(step_url(with_model, "reference")).content.decode()
    assert f'value="{reference.id}" id="id_reference_dataset_{reference.id}" checked> ref' in page


def test_a_connection_that_does_not_exist_is_named(client_for, owner, with_model):
    response = client_for(owner).post(step_url(with_model, "reference"), {
        "source": "connection", "reference-connection": "warehouse", "reference-table_name": "loans",
        "reference-label_col": "label",
    })
    assert response.status_code == 200
    assert "No connection named “warehouse” in this workspace" in response.content.decode()


def test_next_on_the_evaluation_step_submits_the_run(
    client_for, owner, with_model, registered_datasets, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    client.post(step_url(with_model, "reference"), {"source": "registered", "reference-dataset": "ref"})
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(step_url(with_model, "evaluation"),
                               {"source": "registered", "evaluation-dataset": "eval"}, HTTP_HX_REQUEST="true")
    with_model.refresh_from_db()
    assert response["HX-Redirect"] == reverse("stresstests:run_detail", args=[with_model.id])
    assert with_model.status == RunStatus.REQUESTED
    assert with_model.config["categories"] == ["TEST_CATEGORY_TYPE_DRIFT"]
    assert len(callbacks) == 1  # the Celery task, sent once the transaction commits
    # The wizard is closed: its steps now lead to the run page.
    assert client.get(step_url(with_model, "configuration"))["Location"] == response["HX-Redirect"]


def test_a_reload_in_the_middle_keeps_every_step(client_for, owner, with_model, registered_datasets):
    client = client_for(owner)
    client.post(step_url(with_model, "reference"), {"source": "registered", "reference-dataset": "ref"})
    # A later visit: the draft is listed, and opening it goes to the first step not done yet.
    listing = client.get(reverse("stresstests:run_list", args=[with_model.project_id])).content.decode()
    assert '<span class="status draft">Draft</span>' in listing and "Nightly run" in listing
    resumed = client.get(reverse("stresstests:run_detail", args=[with_model.id]))
    assert resumed["Location"] == step_url(with_model, "evaluation")
    page = client.get(resumed["Location"]).content.decode()
    assert page.count('class="done"') == 3
    assert 'value="Nightly run"' in client.get(step_url(with_model, "configuration")).content.decode()


def test_a_gzip_bomb_is_refused_without_being_expanded(client_for, owner, with_model, settings):
    import gzip

    settings.MAX_UPLOAD_BYTES = 1024 * 1024
    bomb = gzip.compress(b'{"label": 1}\n' + b" " * (4 * 1024 * 1024))
    response = post_upload(client_for(owner), with_model, "reference", file=upload("ref.jsonl.gz", bomb))
    assert response.status_code == 200
    assert "ref.jsonl.gz expands to more than 1 MB once decompressed" in response.content.decode()


def test_a_jsonl_gz_upload_is_read_and_checked(client_for, owner, with_model):
    import gzip

    content = gzip.compress(data.frame(n_rows=50).to_json(orient="records", lines=True).encode())
    response = post_upload(client_for(owner), with_model, "reference", file=upload("ref.jsonl.gz", content))
    assert response.status_code == 302
    assert "ref.jsonl.gz: 50 rows" in client_for(owner).get(response["Location"]).content.decode()


@pytest.fixture
def mlflow_registry(project, owner):
    from projects.registries import integrations

    return integrations.integration_create(
        user=owner, workspace=project.workspace, name="mlflow", integration_type="INTEGRATION_TYPE_MLFLOW",
        config={"artifact_root": "s3://models/registry"}, secrets={"access_key_id": "a", "secret_access_key": "b"},
    )


def test_a_model_from_an_online_registry_is_registered_for_the_run(
    client_for, owner, configured, mlflow_registry, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(owner).post(step_url(configured, "model"), {
            "source": "registry", "registry": "mlflow", "uri": "models:/fraud/3", "name": "fraud v3", "tags": "prod",
        })
    assert response["Location"] == step_url(configured, "model") + "?continue=1"
    configured.refresh_from_db()
    assert (configured.model.path, configured.model.integration, configured.model.tags) == (
        "models:/fraud/3", mlflow_registry, ["prod"])
    assert len(callbacks) == 2  # the registry's validation task and the wizard's model check


def test_a_registry_path_that_leaves_its_folder_is_refused(client_for, owner, configured, mlflow_registry):
    response = client_for(owner).post(step_url(configured, "model"), {
        "source": "registry", "registry": "mlflow", "uri": "../other-team/model/", "name": "sneaky",
    })
    assert response.status_code == 200
    assert "leaves its folder" in response.content.decode()
    configured.refresh_from_db()
    assert configured.model is None


def _with_scores(seed: int = 0):
    frame = data.frame()
    noise = np.random.default_rng(seed).normal(0, 0.15, len(frame))
    return frame.assign(preds=np.clip(0.25 + 0.5 * frame["label"] + noise, 0.01, 0.99))


def test_a_column_that_looks_like_predictions_is_proposed_as_the_prediction_column(client_for, owner, with_model):
    client = client_for(owner)
    response = post_upload(client, with_model, "reference", file=upload("ref.csv", data.csv_bytes(_with_scores())))
    assert response.status_code == 302
    with_model.refresh_from_db()
    assert "keep_as_features" not in with_model.reference_dataset.data_params
    page = client.get(response["Location"]).content.decode()
    assert "“preds” look(s) like the model&#x27;s predictions" in page
    assert "name “preds” as the prediction column" in page


def test_a_prediction_like_column_can_be_kept_as_a_feature(client_for, owner, with_model):
    client = client_for(owner)
    response = post_upload(client, with_model, "reference", keep_prediction_like="on",
                           file=upload("ref.csv", data.csv_bytes(_with_scores())))
    assert response.status_code == 302
    with_model.refresh_from_db()
    assert with_model.reference_dataset.data_params["keep_as_features"] == ["preds"]
    assert "will be tested as feature(s), as you asked" in client.get(response["Location"]).content.decode()


def test_a_prediction_column_named_as_such_is_not_proposed_again(client_for, owner, with_model):
    client = client_for(owner)
    response = post_upload(client, with_model, "reference", with_predictions="on", pred_col="preds",
                           file=upload("ref.csv", data.csv_bytes(_with_scores())))
    assert response.status_code == 302
    assert "look(s) like" not in client.get(response["Location"]).content.decode()
