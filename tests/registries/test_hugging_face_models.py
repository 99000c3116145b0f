"""Hugging Face models in the registry: where their files come from (S3 prefix, allow-listed server folder, upload,
hub id), the sidecar the engine reads, validation in the sandbox, and the clear message when no hub is reachable."""
from __future__ import annotations

import io
import json
import socket
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import DatasetSource, ModelSource, ValidityStatus
from projects.registries import integrations, services as registry, sources, validation
from stresstests.engine.errors import ModelLoadError
from stresstests.engine.hugging_face import SIDECAR
from tests.text_models import SENTIMENT, cached_text_classifier, sentiment_frame

from .conftest import put_objects
from .hub_stand_in import local_hub

pytestmark = pytest.mark.django_db

CLASS_MAP = {"0": "negative", "1": "positive"}


@pytest.fixture(scope="module")
def sentiment_model():
    return cached_text_classifier(SENTIMENT)


def folder_files(folder, prefix: str = "") -> dict[str, bytes]:
    return {f"{prefix}{path.name}": path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def text_dataset(project, owner, n: int = 40):
    content = sentiment_frame(n, seed=2).to_json(orient="records", lines=True).encode()
    return registry.dataset_register(
        user=owner, project=project, name="reviews", source=DatasetSource.UPLOAD,
        file=SimpleUploadedFile("reviews.jsonl", content),
        data_params={"label_col": "label", "text_features": ["text"]}, validate=False)


def hugging_face_integration(workspace, owner, endpoint: str, token: str = "hf_secret_token_value"):
    return integrations.integration_create(
        user=owner, workspace=workspace, name="hub", integration_type="INTEGRATION_TYPE_HUGGINGFACE",
        config={"endpoint": endpoint}, secrets={"token": token})


def test_a_model_on_s3_with_its_tokenizer_elsewhere_is_downloaded_and_validated_in_the_sandbox(
        project, owner, s3_endpoint, s3_bucket, make_s3_integration, sentiment_model, tmp_path):
    files = folder_files(sentiment_model)
    model_files = {f"models/sentiment/{n}": b for n, b in files.items() if not n.startswith("tokenizer")}
    tokenizer_files = {f"tokenizers/sentiment/{n}": b for n, b in files.items() if n.startswith("tokenizer")}
    put_objects(s3_endpoint, s3_bucket, {**model_files, **tokenizer_files})
    lake = make_s3_integration()
    dataset = text_dataset(project, owner)
    validation.dataset_validate(dataset)
    assert dataset.validity_status == ValidityStatus.VALID, dataset.validity_message

    model = registry.model_register(
        user=owner, project=project, name="sentiment", tags=[], source=ModelSource.HUGGING_FACE, integration=lake,
        model_config={"hugging_face": {"model_uri": f"s3://{s3_bucket}/models/sentiment/", "kwargs": json.dumps({
            "tokenizer_uri": f"s3://{s3_bucket}/tokenizers/sentiment", "class_map": CLASS_MAP,
            "ignore_class_names": True})}}, validate=False)
    folder = sources.materialize_model(model, tmp_path / "out")
    assert (folder / "config.json").is_file() and (folder / "tokenizer" / "tokenizer.json").is_file()
    assert not (folder / "tokenizer.json").exists()
    assert json.loads((folder / SIDECAR).read_text()) == {
        "class_map": CLASS_MAP, "ignore_class_names": True, "tokenizer_dir": "tokenizer"}

    validation.model_validate(model)
    assert model.validity_status == ValidityStatus.VALID, model.validity_message
    assert model.validity_message == "Loaded and predicted 20 rows of reviews."


def test_a_hub_id_without_a_reachable_hub_gets_the_clear_message(project, owner, workspace, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = registry.model_register(user=owner, project=project, name="nli", tags=[],
                                    source=ModelSource.HUGGING_FACE, model_config={"model_uri": "org/sentiment"},
                                    validate=False)
    validation.model_validate(model)
    assert model.validity_status == ValidityStatus.INVALID
    assert model.validity_message == (
        "Model nli: no model hub is reachable from this server (HF_HUB_OFFLINE is set), so the Hugging Face model "
        "org/sentiment cannot be downloaded. Upload the model's folder (written by save_pretrained) in the model "
        "registry or the wizard, or put it on S3 and register its s3:// prefix with an S3 integration.")

    # HF_HUB_OFFLINE unset: the download is tried, on the integration's endpoint, which nothing answers.
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    hub = hugging_face_integration(workspace, owner, f"http://127.0.0.1:{closed_port}")
    tried = registry.model_register(user=owner, project=project, name="tried", tags=[], integration=hub,
                                    source=ModelSource.HUGGING_FACE, model_config={"model_uri": "org/sentiment"},
                                    validate=False)
    validation.model_validate(tried)
    assert tried.validity_status == ValidityStatus.INVALID
    assert tried.validity_message.startswith("Model tried: no model hub is reachable from this server (")
    assert "put it on S3" in tried.validity_message and "hf_secret_token_value" not in tried.validity_message


def test_a_hub_id_is_downloaded_with_the_integrations_token_when_a_hub_answers(
        project, owner, workspace, monkeypatch, sentiment_model, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with local_hub("org/sentiment", sentiment_model) as hub:
        integration = hugging_face_integration(workspace, owner, hub.url)
        model = registry.model_register(
            user=owner, project=project, name="from hub", tags=[], integration=integration,
            source=ModelSource.HUGGING_FACE, validate=False,
            model_config={"model_uri": "org/sentiment", "class_map": CLASS_MAP, "ignore_class_names": True})
        folder = sources.materialize_model(model, tmp_path / "out")
        assert sorted(p.name for p in folder.iterdir()) == [
            "config.json", "model.safetensors", SIDECAR, "tokenizer.json", "tokenizer_config.json"]
        assert hub.requests and {auth for _, _, auth in hub.requests} == {"Bearer hf_secret_token_value"}

        missing = registry.model_register(user=owner, project=project, name="missing", tags=[], validate=False,
                                          integration=integration, source=ModelSource.HUGGING_FACE,
                                          model_config={"model_uri": "org/nothing-here"})
        validation.model_validate(missing)
    assert missing.validity_message.startswith(f"Model missing: the hub at {hub.url} has no model org/nothing-here")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    asked = len(hub.requests)
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE is set"):
        sources.materialize_model(model, tmp_path / "offline")
    assert len(hub.requests) == asked  # not even asked


def test_a_hub_the_outbound_policy_refuses_is_not_contacted(project, owner, workspace, settings, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub = hugging_face_integration(workspace, owner, "http://127.0.0.1:9")
    settings.OUTBOUND_ALLOWED_HOSTS = []  # then the operator withdraws loopback
    model = registry.model_register(user=owner, project=project, name="m", tags=[], integration=hub,
                                    source=ModelSource.HUGGING_FACE, model_config={"model_uri": "org/m"},
                                    validate=False)
    validation.model_validate(model)
    assert "no model hub is reachable" in model.validity_message
    assert "127.0.0.1" in model.validity_message  # the policy's reason names the address it refused


def test_an_allow_listed_server_folder_is_copied_and_others_are_refused(project, owner, settings, tmp_path,
                                                                         sentiment_model):
    import shutil

    allowed = tmp_path / "shared"
    shutil.copytree(sentiment_model, allowed / "sentiment")
    settings.DATA_PATH_ALLOWLIST = [allowed]
    model = registry.model_register(user=owner, project=project, name="local", tags=[],
                                    source=ModelSource.HUGGING_FACE, validate=False,
                                    model_config={"model_uri": str(allowed / "sentiment")})
    folder = sources.materialize_model(model, tmp_path / "out")
    assert (folder / "model.safetensors").is_file()
    assert json.loads((folder / SIDECAR).read_text())["tokenizer_dir"] == "."
    with pytest.raises(ValidationError) as caught:
        registry.model_register(user=owner, project=project, name="outside", tags=[], validate=False,
                                source=ModelSource.HUGGING_FACE, model_config={"model_uri": str(sentiment_model)})
    assert "outside the folders this server may read from" in str(caught.value)


def test_an_uploaded_zip_of_the_folder_is_stored_and_gets_its_sidecar(project, owner, tmp_path, sentiment_model):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in folder_files(sentiment_model, prefix="my-model/").items():
            archive.writestr(name, content)
    model = registry.model_register(
        user=owner, project=project, name="uploaded", tags=[], source=ModelSource.UPLOAD, validate=False,
        files=[SimpleUploadedFile("my-model.zip", buffer.getvalue())],
        model_config={"hugging_face": {"class_map": CLASS_MAP, "ignore_class_names": True}})
    assert model.entry_point == "" and model.model_config["hugging_face"]["model_uri"] == ""
    folder = sources.materialize_model(model, tmp_path / "out")
    assert folder == tmp_path / "out" and (folder / "config.json").is_file()  # the top folder was flattened
    assert json.loads((folder / SIDECAR).read_text())["class_map"] == CLASS_MAP

    with pytest.raises(ValidationError, match="no config.json at its top"):
        registry.model_register(user=owner, project=project, name="bad", tags=[], source=ModelSource.UPLOAD,
                                files=[SimpleUploadedFile("weights.safetensors", b"x")], validate=False,
                                model_config={"hugging_face": {}})


def test_the_run_tells_the_model_its_text_columns(sentiment_model, tmp_path):
    import shutil

    folder = shutil.copytree(sentiment_model, tmp_path / "m")
    sources.note_run_data(folder, {"text_features": ["review"], "class_names": ["neg", "pos"]})
    assert json.loads((folder / SIDECAR).read_text()) == {"text_features": ["review"], "label_names": ["neg", "pos"]}
    sources.note_run_data(tmp_path / "model.py", {"text_features": ["review"]})  # other models: nothing to note
    assert not (tmp_path / SIDECAR).exists()


@pytest.mark.parametrize("config, field", [
    ({"model_uri": "s3://"}, "model_uri"),
    ({"model_uri": "not a model id!"}, "model_uri"),
    ({"model_uri": "org/m", "tokenizer_uri": "bad tokenizer!"}, "tokenizer_uri"),
    ({"model_uri": "s3://bucket/model/"}, "integration"),  # no S3 integration for its credentials
    ({"model_uri": "org/m", "class_map": {"0": "a", "1": ""}}, "class_map"),
])
def test_malformed_hugging_face_sources_are_refused(project, owner, config, field):
    with pytest.raises(ValidationError) as caught:
        registry.model_register(user=owner, project=project, name="x", tags=[], source=ModelSource.HUGGING_FACE,
                                model_config=config, validate=False)
    assert field in caught.value.message_dict


def test_an_s3_uri_is_accepted_as_the_model_uri(project, owner, make_s3_integration):
    model = registry.model_register(user=owner, project=project, name="x", tags=[], source=ModelSource.HUGGING_FACE,
                                    integration=make_s3_integration(), validate=False,
                                    model_config={"model_uri": "s3://bucket/models/sentiment/"})
    assert model.model_config["hugging_face"]["model_uri"] == "s3://bucket/models/sentiment/"

