"""Text models in the wizard: a Hugging Face model at the model step (its folder or an archive uploaded, or a URI with
tokenizer URI, class map and the ignore-names switch), and the text columns at the reference step, checked against
both datasets before the run."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.models import ModelSource
from projects.registries import services as registry
from stresstests import services, wizard_checks
from stresstests.models import RunStatus
from stresstests.engine.vocabulary import MODEL_TASK_NATURAL_LANGUAGE_INFERENCE
from tests.registries.test_hugging_face_uploads import SAVED, folder_upload, tar_upload, zip_upload

from .test_wizard_checks import configured_with_model

pytestmark = pytest.mark.django_db

WORDS = ["good", "bad", "film", "plot", "acting", "slow", "great", "boring", "music", "ending", "story", "cast"]


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path / "media")}}}


def step_url(run, step: str) -> str:
    return reverse("stresstests:wizard_step", kwargs={"run_id": run.id, "step": step})


def reviews(n: int = 60, *, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, rng.integers(6, 14))) for _ in range(n)]
    return pd.DataFrame({"text": texts, "stars": rng.integers(1, 6, n), "label": rng.integers(0, 2, n)})


def jsonl(frame: pd.DataFrame, name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(f"{name}.jsonl", frame.to_json(orient="records", lines=True).encode())


def configure(client, run):
    client.post(step_url(run, "configuration"), {"config_mode": "project", "name": "Text run"})


# ---- the model step ---------------------------------------------------------------------------------------------
def test_an_uploaded_folder_becomes_the_drafts_hugging_face_model(client_for, owner, draft):
    client = client_for(owner)
    configure(client, draft)
    page = client.get(step_url(draft, "model") + "?source=hugging_face").content.decode()
    assert "webkitdirectory" in page and 'name="relative_paths"' in page and "Ignore class names" in page
    # Review 15: the folder's button said "Select File", the archive was a bare native input, the URI fields had
    # inline labels: every file field is a drop zone with its own button, every field's label above it.
    assert 'class="button select-file">Select Folder</label>' in page
    assert 'class="button select-file">Select Archive</label>' in page
    assert page.count("data-dropzone") == 2 and page.count('<fieldset class="field-group">') == 2
    uploads, paths = folder_upload({f"tiny-bert/{n}": c for n, c in SAVED.items()})
    response = client.post(step_url(draft, "model"), {
        "source": "hugging_face", "hf_folder": uploads, "relative_paths": json.dumps(paths),
        "class_map": "0: negative, 1: positive", "ignore_class_names": "on"})
    assert response["Location"] == step_url(draft, "model") + "?continue=1"  # checked on a worker, like any model
    draft.refresh_from_db()
    model = draft.model
    assert model.name == "tiny-bert" and model.source == ModelSource.UPLOAD and model.entry_point == ""
    assert model.model_config == {"hugging_face": {"model_uri": "", "tokenizer_uri": "", "ignore_class_names": True,
                                                   "class_map": {"0": "negative", "1": "positive"}}}


def test_an_archive_is_named_after_its_file(client_for, owner, draft):
    client = client_for(owner)
    configure(client, draft)
    client.post(step_url(draft, "model"), {"source": "hugging_face", "hf_archive": tar_upload(SAVED, "sst2.tar.gz")})
    draft.refresh_from_db()
    assert draft.model.name == "sst2" and draft.model.model_config["hugging_face"]["class_map"] == {}


def test_a_model_uri_registers_a_hugging_face_model_with_its_settings(client_for, owner, draft):
    client = client_for(owner)
    configure(client, draft)
    response = client.post(step_url(draft, "model"), {
        "source": "hugging_face", "model_uri": "acme/sentiment-bert", "tokenizer_uri": "acme/sentiment-tok",
        "class_map": '{"0": "negative", "1": "positive"}'})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.model.source == ModelSource.HUGGING_FACE and draft.model.name == "sentiment-bert"
    assert draft.model.model_config["hugging_face"] == {
        "model_uri": "acme/sentiment-bert", "tokenizer_uri": "acme/sentiment-tok",
        "class_map": {"0": "negative", "1": "positive"}, "ignore_class_names": False}


@pytest.mark.parametrize("values, message", [
    ({}, "Choose the model&#x27;s folder, or give a .zip or .tar.gz of it."),
    ({"model_uri": "acme/bert", "hf_archive": "ARCHIVE"}, "Give the folder, an archive or a URI: only one of them."),
    ({"hf_archive": "ARCHIVE", "tokenizer_uri": "acme/tok"}, "An uploaded folder holds its tokenizer"),
    ({"hf_archive": "ARCHIVE", "class_map": "positive: 1"}, "“positive” is not a class index"),
    ({"hf_archive": "ARCHIVE", "class_map": "0: neg, 2: pos"}, "Class indices must run 0, 1, 2, … without gaps."),
    ({"hf_archive": "BAD_ARCHIVE"}, "holds files a saved Hugging Face model does not have: run.py"),
    ({"model_uri": "acme/bert", "integration": "nope"}, "No integration named “nope” in this workspace"),
], ids=["nothing", "two-sources", "tokenizer-with-upload", "class-map", "class-map-gap", "code", "integration"])
def test_model_step_mistakes_are_shown_on_the_step_and_register_nothing(client_for, owner, draft, values, message):
    client = client_for(owner)
    configure(client, draft)
    archives = {"ARCHIVE": lambda: zip_upload(SAVED), "BAD_ARCHIVE": lambda: zip_upload({**SAVED, "run.py": b"x"})}
    posted = {key: archives[value]() if value in archives else value for key, value in values.items()}
    response = client.post(step_url(draft, "model"), {"source": "hugging_face", **posted})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not draft.project.models.exists()


# ---- the reference step: text features ----------------------------------------------------------------------------
def post_reference(client, run, frame, **extra):
    values = {"source": "upload", "reference-name": "reviews_ref", "reference-label_col": "label",
              "reference-file": jsonl(frame, "reviews_ref")}
    values.update({f"reference-{key}": value for key, value in extra.items()})
    return client.post(step_url(run, "reference"), values)


def test_text_features_are_stored_on_the_run_for_both_datasets(client_for, owner, draft, registered_model):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    page = client.get(step_url(run, "reference") + "?source=upload").content.decode()
    assert 'name="reference-text_features"' in page
    response = post_reference(client, run, reviews(), text_features="text")
    assert response["Location"] == step_url(run, "evaluation")
    run.refresh_from_db()
    assert run.config["data_params"]["text_features"] == ["text"]
    notes = [str(m) for m in response.wsgi_request._messages]
    assert any("Text features: text." in note for note in notes)
    # Shown again when the step is revisited, and the evaluation step has no field of its own.
    assert 'value="text"' in client.get(step_url(run, "reference") + "?source=upload").content.decode()
    assert "text_features" not in client.get(step_url(run, "evaluation") + "?source=upload").content.decode()


def test_an_upload_with_free_text_proposes_it_when_no_text_feature_is_named(client_for, owner, draft,
                                                                          registered_model):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    response = post_reference(client, run, reviews())
    notes = " ".join(str(m) for m in response.wsgi_request._messages)
    assert "text read(s) like free text: for a text model, go Back and name it under Text features." in notes


def hugging_face(model):
    model.model_config = {"hugging_face": {"model_uri": "", "tokenizer_uri": "", "class_map": {},
                                           "ignore_class_names": False}}
    model.save(update_fields=["model_config"])
    return model


def test_a_hugging_face_model_requires_text_features_and_proposes_the_free_text_column(client_for, owner, draft,
                                                                                     registered_model):
    """Review 15: with Text features left empty, a Hugging Face model was run as tabular (fairness on the text)."""
    client = client_for(owner)
    run = configured_with_model(client, draft, hugging_face(registered_model))
    page = client.get(step_url(run, "reference") + "?source=upload").content.decode()
    assert "Required: the model is a Hugging Face text model." in page
    response = post_reference(client, run, reviews())
    page = response.content.decode()
    assert response.status_code == 200
    assert "The model is a Hugging Face text model: name the column(s) of free text it reads" in page
    assert "“text” in reviews_ref.jsonl read(s) like free text: filled in below" in page
    assert 'name="reference-text_features" value="text"' in page
    run.refresh_from_db()
    assert run.reference_dataset is None and not run.project.datasets.exists()
    assert post_reference(client, run, reviews(), text_features="text").status_code == 302


def test_the_evaluation_upload_knows_the_text_features_named_with_the_reference(client_for, owner, draft,
                                                                               registered_model):
    """Review 15: the evaluation upload's note said "go Back and name it under Text features" though it was."""
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    post_reference(client, run, reviews(), text_features="text")
    response = client.post(step_url(run, "evaluation"), {
        "source": "upload", "evaluation-name": "reviews_eval", "evaluation-label_col": "label",
        "evaluation-file": jsonl(reviews(seed=2), "reviews_eval")})
    notes = " ".join(str(m) for m in response.wsgi_request._messages)
    assert "reviews_eval.jsonl: 60 rows" in notes and "Text features: text." in notes
    assert "go Back" not in notes

    # The notice shows inside the page, after the project's links (on a phone they head the page), not between them
    # and the breadcrumbs (review 15, 390 px screenshots).
    again = post_reference(client, run, reviews(seed=3), text_features="text", name="again")
    page = client.get(again["Location"]).content.decode()
    assert page.index('<nav class="sidebar"') < page.index('<div class="messages"') < page.index("<h1")


@pytest.mark.parametrize("named, message", [
    ("review", "“review” is not a column of reviews_ref.jsonl; its columns are text, stars, label."),
    ("stars", "“stars” holds numeric values, not text."),
    ("text, text", "A column is named twice."),
])
def test_wrong_text_features_are_refused_at_the_reference_step(client_for, owner, draft, registered_model, named,
                                                               message):
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    response = post_reference(client, run, reviews(), text_features=named)
    assert response.status_code == 200 and message in response.content.decode()
    run.refresh_from_db()
    assert run.reference_dataset is None and not run.project.datasets.exists()


def test_natural_language_inference_needs_the_premise_and_the_hypothesis(client_for, owner, draft, registered_model):
    draft.project.model_task = MODEL_TASK_NATURAL_LANGUAGE_INFERENCE
    draft.project.save(update_fields=["model_task"])
    client = client_for(owner)
    run = configured_with_model(client, draft, registered_model)
    page = client.get(step_url(run, "reference") + "?source=upload").content.decode()
    assert "The premise column, then the hypothesis column" in page
    frame = reviews().rename(columns={"text": "premise"}).assign(hypothesis=lambda f: f["premise"].str[::-1])
    one = post_reference(client, run, frame, text_features="premise")
    assert "Natural language inference needs two text columns, the premise then the hypothesis" in \
        one.content.decode()
    missing = post_reference(client, run, frame).content.decode()
    assert "Natural language inference reads two text columns: name the premise column, then the hypothesis " \
        "column. “premise”, “hypothesis” in reviews_ref.jsonl read(s) like free text: filled in below" in missing
    assert 'value="premise, hypothesis"' in missing
    two = post_reference(client, run, frame, text_features="premise, hypothesis")
    assert two.status_code == 302
    run.refresh_from_db()
    assert run.config["data_params"]["text_features"] == ["premise", "hypothesis"]


def test_the_wizard_checks_text_features_against_both_datasets_before_the_run(owner, project, draft, registered_model):
    def register(name, frame):
        return registry.dataset_register(user=owner, project=project, name=name, source="upload",
                                         data_params={"label_col": "label"}, file=jsonl(frame, name), validate=False)

    reference = register("ref", reviews(seed=1))
    evaluation = register("eval", reviews(seed=2).rename(columns={"text": "body"}))
    services.run_set_model(user=owner, run=draft, model=registered_model)
    services.run_set_dataset(user=owner, run=draft, role="reference", dataset=reference)
    services.run_set_dataset(user=owner, run=draft, role="evaluation", dataset=evaluation)
    services.run_set_text_features(user=owner, run=draft, features=["text"])
    problems = " ".join(services.wizard_problems(draft))
    assert "Text feature(s) “text” are not columns of the evaluation dataset" in problems

    services.run_set_dataset(user=owner, run=draft, role="evaluation", dataset=register("eval2", reviews(seed=3)))
    services.run_set_text_features(user=owner, run=draft, features=["text", "stars"])
    problems = " ".join(services.wizard_problems(draft))
    assert "Text feature “stars” of the reference dataset holds numeric values, not text." in problems
    assert "Text feature “stars” of the evaluation dataset holds numeric values, not text." in problems

    services.run_set_text_features(user=owner, run=draft, features=["text"])
    assert not any("Text feature" in p for p in services.wizard_problems(draft))
    # Free text has no groups: never offered as a protected feature (the engine refuses it).
    assert "text" not in wizard_checks.draft_data_check(draft).protected_candidates


def test_proposed_text_columns_are_the_profiles_free_text():
    frame = reviews().assign(city=lambda f: np.where(f["stars"] > 2, "Rome", "Oslo"))
    assert wizard_checks.proposed_text_columns(frame) == ["text"]


def failed_hugging_face_check(client, draft) -> None:
    """The draft's Hugging Face upload, as if its model check on the worker had failed."""
    configure(client, draft)
    client.post(step_url(draft, "model"), {"source": "hugging_face", "hf_archive": zip_upload(SAVED, "sst2.zip")})
    draft.refresh_from_db()
    draft.checks = {"model": {**wizard_checks.model_check_key(draft), "status": wizard_checks.CHECK_FAILED,
                              "message": "Model sst2: its weights could not be read."}}
    draft.save(update_fields=["checks"])


def test_a_failed_hugging_face_upload_reopens_its_tab_ready_to_replace_it(client_for, owner, draft):
    client = client_for(owner)
    failed_hugging_face_check(client, draft)
    page = client.get(step_url(draft, "model")).content.decode()
    assert 'aria-current="true">A Hugging Face model' in page and 'value="sst2"' in page
    assert "Upload the model's folder again as save_pretrained wrote it" in page
    failed = draft.model_id
    client.post(step_url(draft, "model"), {"source": "hugging_face", "name": "sst2", "hf_archive": zip_upload(SAVED)})
    draft.refresh_from_db()
    assert draft.model.name == "sst2" and draft.model_id != failed
    assert not draft.project.models.filter(id=failed).exists()


# ---- Bias and Fairness on a text run: no protected feature needed ------------------------------------------------
BIAS = "TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"


def bias_text_draft(client, run, registered_model, *, text_features: str):
    """A draft with Bias and Fairness chosen and text reviews on both sides; text features named or not."""
    run = configured_with_model(client, run, registered_model, categories=[BIAS])
    post_reference(client, run, reviews(seed=1), **({"text_features": text_features} if text_features else {}))
    client.post(step_url(run, "evaluation"), {"source": "upload", "evaluation-name": "reviews_eval",
                                              "evaluation-label_col": "label",
                                              "evaluation-file": jsonl(reviews(seed=2), "reviews_eval")})
    run.refresh_from_db()
    return run


@pytest.mark.parametrize("text_features", ["text", ""])
def test_bias_and_fairness_needs_no_protected_feature_on_a_text_run_only(
        client_for, owner, draft, registered_model, text_features, django_capture_on_commit_callbacks):
    client = client_for(owner)
    with django_capture_on_commit_callbacks(execute=False):
        run = bias_text_draft(client, draft, registered_model, text_features=text_features)
    if text_features:   # the text swaps need none: the evaluation step's Next starts the run
        assert run.status == RunStatus.REQUESTED, services.wizard_problems(run)
        assert not run.config["data_params"].get("protected_features")
    else:               # the same data as a tabular run: refused until a protected feature is chosen, as before
        assert run.status == RunStatus.DRAFT
        assert services.NEEDS_PROTECTED in services.wizard_problems(run)
        started = client.post(reverse("stresstests:wizard_start", args=[run.id]), {"protected_features_shown": "1"},
                              follow=True).content.decode()
        assert "Bias and Fairness needs protected features" in started
        run.refresh_from_db()
        assert run.status == RunStatus.DRAFT


def test_a_text_runs_protected_features_are_optional_and_offered_for_the_tabular_fairness_tests(
        client_for, owner, draft, registered_model):
    from stresstests.forms import ProtectedFeaturesForm

    client = client_for(owner)
    run = bias_text_draft(client, draft, registered_model, text_features="text")
    form = ProtectedFeaturesForm(run=run, data_check=wizard_checks.draft_data_check(run))
    field = form.fields["protected_features"]
    assert not field.required and "Optional for text" in field.help_text
    assert "stars" in dict(field.choices)


def test_a_wrong_class_map_keeps_what_was_typed_and_advises_fixing_it(client_for, owner, draft):
    """Review 15: after "class_map names 3 classes but the model has 2 outputs" the class map came back empty and the
    advice said to upload the folder again as save_pretrained wrote it."""
    client = client_for(owner)
    configure(client, draft)
    client.post(step_url(draft, "model"), {"source": "hugging_face", "hf_archive": zip_upload(SAVED, "sst2.zip"),
                                           "class_map": "0: neg, 1: pos, 2: neutral", "ignore_class_names": "on"})
    draft.refresh_from_db()
    draft.checks = {"model": {**wizard_checks.model_check_key(draft), "status": wizard_checks.CHECK_FAILED,
                              "message": "Model sst2: class_map names 3 classes (0, 1, 2) but the model has 2 "
                                         "outputs."}}
    draft.save(update_fields=["checks"])
    page = client.get(step_url(draft, "model")).content.decode()
    assert "0: neg, 1: pos, 2: neutral</textarea>" in page or 'value="0: neg, 1: pos, 2: neutral"' in page
    assert "Correct the class map below" in page
    assert "Upload the model's folder again as save_pretrained wrote it" not in page



def test_a_failed_model_replaced_under_another_name_is_removed(client_for, owner, draft):
    """Review 15: each failed check left an "Invalid" model behind when the next upload took another name."""
    client = client_for(owner)
    failed_hugging_face_check(client, draft)
    failed = draft.model_id
    client.post(step_url(draft, "model"), {"source": "hugging_face", "name": "sst2 fixed",
                                           "hf_archive": zip_upload(SAVED)})
    draft.refresh_from_db()
    assert draft.model.name == "sst2 fixed"
    assert list(draft.project.models.values_list("name", flat=True)) == ["sst2 fixed"]
    assert not draft.project.models.filter(id=failed).exists()
