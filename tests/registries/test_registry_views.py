"""Models, Datasets and Predictions pages: lists with status, details with every parameter, registration forms."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.registries import integrations, services as registry, validation
from projects.models import Dataset, ModelSource, Predictions, RegisteredModel

from .conftest import csv_bytes, fraud_frame

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    """Validation is queued on commit; these page tests only check what was registered."""
    queued = []
    monkeypatch.setattr(registry, "_queue", lambda name, object_id: queued.append((name, str(object_id))))
    return queued


def _dataset(project, owner, name="ref", **params):
    upload = SimpleUploadedFile(f"{name}.csv", csv_bytes(fraud_frame(12)))
    return registry.dataset_register(user=owner, project=project, name=name, source="upload",
                                     data_params={"label_col": "is_fraud", **params}, file=upload, validate=False)


def test_lists_show_status_and_message(client_for, member, owner, project):
    model = registry.model_register(user=owner, project=project, name="scores", tags=["prod"], source=ModelSource.NONE)
    dataset = validation.dataset_validate(_dataset(project, owner))
    models_page = client_for(member).get(reverse("projects:model_list", args=[project.id])).content.decode()
    datasets_page = client_for(member).get(reverse("projects:dataset_list", args=[project.id])).content.decode()
    assert model.name in models_page and "Valid" in models_page and "prod" in models_page
    assert "No model artifact: tests use registered predictions only." in models_page
    assert dataset.name in datasets_page and "12 rows, 4 columns." in datasets_page
    assert "Register Dataset" not in datasets_page  # a viewer cannot register


def test_a_list_with_a_pending_row_polls_and_htmx_gets_only_the_table(client_for, owner, project):
    _dataset(project, owner)
    client = client_for(owner)
    full = client.get(reverse("projects:dataset_list", args=[project.id])).content.decode()
    partial = client.get(reverse("projects:dataset_list", args=[project.id]), HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 3s"' in full and "<html" in full
    assert 'id="dataset-table"' in partial and "<html" not in partial


def test_list_queries_do_not_grow_with_rows(client_for, owner, project, django_assert_num_queries):
    client = client_for(owner)
    url = reverse("projects:model_list", args=[project.id])
    registry.model_register(user=owner, project=project, name="m0", tags=[], source=ModelSource.NONE)
    client.get(url)
    with django_assert_num_queries(5) as one_row:
        client.get(url)
    for n in range(1, 6):
        registry.model_register(user=owner, project=project, name=f"m{n}", tags=[], source=ModelSource.NONE)
    with django_assert_num_queries(len(one_row.captured_queries)):
        client.get(url)


def test_outsiders_get_404_and_viewers_cannot_register(client_for, outsider, member, owner, project):
    dataset = _dataset(project, owner)
    for url in (reverse("projects:model_list", args=[project.id]),
                reverse("projects:dataset_detail", args=[project.id, dataset.id])):
        assert client_for(outsider).get(url).status_code == 404
    viewer = client_for(member)
    assert viewer.get(reverse("projects:dataset_register", args=[project.id])).status_code == 403
    assert viewer.post(reverse("projects:dataset_delete", args=[project.id, dataset.id])).status_code == 403
    assert Dataset.objects.filter(id=dataset.id).exists()


def test_an_editor_uploads_a_model_through_the_form(client_for, editor, project, model_files):
    files = [SimpleUploadedFile(name, content) for name, content in model_files.items()]
    response = client_for(editor).post(reverse("projects:model_register", args=[project.id]) + "?source=upload",
                                       {"name": "fraud", "tags": "v1, prod", "files": files})
    model = RegisteredModel.objects.get(name="fraud")
    assert response.status_code == 302
    assert response.url == reverse("projects:model_detail", args=[project.id, model.id])
    assert (model.tags, model.entry_point, model.created_by) == (["v1", "prod"], "model.py", editor)


def test_an_invalid_registration_re_renders_with_200_and_the_message(client_for, owner, project):
    url = reverse("projects:model_register", args=[project.id]) + "?source=upload"
    files = [SimpleUploadedFile("a.py", b"x = 1"), SimpleUploadedFile("b.py", b"y = 2")]
    response = client_for(owner).post(url, {"name": "x", "files": files})
    assert response.status_code == 200
    assert "name the entry point model.py" in response.content.decode()
    assert not RegisteredModel.objects.exists()


def test_the_source_tabs_swap_the_form_with_htmx(client_for, owner, project):
    url = reverse("projects:model_register", args=[project.id]) + "?source=hugging_face"
    partial = client_for(owner).get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="register-form"' in partial and "<html" not in partial
    assert 'for="id_hf_model_uri"' in partial and 'id="id_files"' not in partial
    assert "a hub id (downloaded only when this server can reach the hub" in partial


def test_a_hugging_face_model_registered_through_the_form(client_for, owner, project):
    url = reverse("projects:model_register", args=[project.id]) + "?source=hugging_face"
    response = client_for(owner).post(url, {"name": "sentiment", "hf_model_uri": "distilbert-base-uncased",
                                            "class_map": '{"0": "neg", "1": "pos"}', "ignore_class_names": "on"})
    assert response.status_code == 302
    config = RegisteredModel.objects.get(name="sentiment").model_config["hugging_face"]
    assert config == {"model_uri": "distilbert-base-uncased", "tokenizer_uri": "",
                      "class_map": {"0": "neg", "1": "pos"}, "ignore_class_names": True}


def test_a_registry_model_through_the_form_needs_a_registry_integration(client_for, owner, workspace, project):
    mlflow = integrations.integration_create(user=owner, workspace=workspace, name="mlflow", config={
        "artifact_root": "s3://bucket/registry"}, integration_type="INTEGRATION_TYPE_MLFLOW", secrets={})
    url = reverse("projects:model_register", args=[project.id]) + "?source=registry"
    client = client_for(owner)
    assert client.post(url, {"name": "x", "model_uri": "models:/fraud/1"}).status_code == 200
    response = client.post(url, {"name": "x", "model_uri": "models:/fraud/1", "integration": mlflow.id})
    assert response.status_code == 302
    detail = client.get(response.url).content.decode()
    assert "Model registry" in detail and "models:/fraud/1" in detail


def test_a_table_dataset_form_rejects_an_injected_table_name(client_for, owner, workspace, project):
    database = integrations.integration_create(user=owner, workspace=workspace, name="db", config={
        "dialect": "postgresql", "host": "127.0.0.1", "database": "x"}, integration_type="INTEGRATION_TYPE_SQL",
        secrets={})
    url = reverse("projects:dataset_register", args=[project.id]) + "?source=table"
    response = client_for(owner).post(url, {"name": "t", "integration": database.id, "sample": "on",
                                            "table_name": "users; DROP TABLE users"})
    assert response.status_code == 200
    assert "is not a plain identifier" in response.content.decode()
    assert not Dataset.objects.exists()


def test_a_dataset_uploaded_through_the_form_keeps_every_parameter(client_for, owner, project, no_queue):
    url = reverse("projects:dataset_register", args=[project.id]) + "?source=upload"
    upload = SimpleUploadedFile("ref.csv", csv_bytes(fraud_frame(12)))
    response = client_for(owner).post(url, {
        "name": "ref", "file": upload, "label_col": "is_fraud", "timestamp_col": "ts",
        "protected_features": "city", "categorical_features": "city", "nrows": "10", "sample": "on",
        "loading_kwargs": '{"sep": ","}'})
    dataset = Dataset.objects.get(name="ref")
    assert response.status_code == 302
    assert dataset.data_params == {"label_col": "is_fraud", "timestamp_col": "ts", "protected_features": ["city"],
                                   "categorical_features": ["city"], "nrows": 10, "sample": True,
                                   "loading_kwargs": {"sep": ","}}
    assert no_queue == [("validate_dataset", str(dataset.id))]
    detail = client_for(owner).get(response.url).content.decode()
    for name in ("label_col", "timestamp_col", "protected_features", "features_not_in_model", "nrows", "sample",
                 "loading_kwargs"):
        assert f"<code>{name}</code>" in detail


def test_predictions_are_registered_for_a_pair_through_the_form(client_for, owner, project):
    dataset = _dataset(project, owner)
    model = registry.model_register(user=owner, project=project, name="m", tags=[], source=ModelSource.NONE)
    url = reverse("projects:predictions_register", args=[project.id]) + "?source=upload"
    upload = SimpleUploadedFile("p.csv", b"score\n" + b"0.5\n" * 12)
    response = client_for(owner).post(url, {"model": model.id, "dataset": dataset.id, "file": upload,
                                            "pred_col": "score"})
    assert response.status_code == 302
    assert Predictions.objects.get(model=model, dataset=dataset).pred_params == {"pred_col": "score"}


def test_delete_needs_post_and_a_writer(client_for, owner, project):
    dataset = _dataset(project, owner)
    url = reverse("projects:dataset_delete", args=[project.id, dataset.id])
    client = client_for(owner)
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 302
    assert not Dataset.objects.exists()


def test_validate_again_puts_the_row_back_to_pending_and_queues_it(client_for, owner, project, no_queue):
    model = registry.model_register(user=owner, project=project, name="hf", tags=[], source=ModelSource.HUGGING_FACE,
                                    model_config={"model_uri": "org/m"}, validate=False)
    response = client_for(owner).post(reverse("projects:model_revalidate", args=[project.id, model.id]))
    model.refresh_from_db()
    assert response.status_code == 302
    assert (model.validity_status, no_queue) == ("VALIDITY_STATUS_PENDING", [("validate_model", str(model.id))])


def test_a_dataset_a_stress_test_used_is_kept_with_the_reason(client_for, owner, project):
    from stresstests.models import StressTestRun

    dataset = _dataset(project, owner)
    StressTestRun.objects.create(project=project, name="r", created_by=owner, reference_dataset=dataset)
    url = reverse("projects:dataset_delete", args=[project.id, dataset.id])
    response = client_for(owner).post(url, follow=True)
    assert "used by stress tests, so it is kept for their results" in response.content.decode()
    assert Dataset.objects.filter(id=dataset.id).exists()
