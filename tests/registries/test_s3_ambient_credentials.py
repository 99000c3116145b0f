"""An S3 integration never signs with the worker's own credentials (issue 15, R1): boto3 falls back to the
environment's AWS_* keys, ~/.aws and an instance role whenever a client gets no keys, and those are the platform's
own storage keys. A keyless integration reads anonymously (unsigned), and the platform's storage bucket is refused
whatever the keys. moto checks every signature here (s3_keys)."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects import services
from projects.models import ModelSource
from projects.registries import integrations, services as registry, sources
from tests.registries.conftest import put_objects
from tests.text_models import SENTIMENT, cached_text_classifier

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker_env_keys(s3_keys, monkeypatch, tmp_path):
    """The worker's environment holds the platform's keys, as settings.py wires them for its storage."""
    key_id, secret = s3_keys
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    return key_id, secret


def keyless(workspace, user, endpoint):
    return integrations.integration_create(user=user, workspace=workspace, name="nokeys",
                                           integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY",
                                           config={"region": "us-east-1", "endpoint_url": endpoint}, secrets={})


def test_a_keyless_integration_does_not_sign_with_the_workers_keys(s3_endpoint, s3_bucket, worker_env_keys, project,
                                                                    owner, workspace, tmp_path):
    put_objects(s3_endpoint, s3_bucket, {"private/model.py": b"print('secret')\n"}, credentials=worker_env_keys)
    lake = keyless(workspace, owner, s3_endpoint)
    # The request goes unsigned, which this private bucket refuses (moto answers unsigned requests with an error
    # while it checks signatures); signed with the environment's keys it would have succeeded.
    with pytest.raises(sources.SourceError, match=f"s3://{s3_bucket}/private/"):
        sources.download_s3_prefix(integrations.s3_settings(lake), s3_bucket, "private/", tmp_path / "out",
                                   integration=lake)
    assert not (tmp_path / "out" / "model.py").exists()


def test_one_key_without_the_other_is_refused(s3_endpoint, s3_bucket, worker_env_keys, workspace, owner, tmp_path):
    half = integrations.integration_create(user=owner, workspace=workspace, name="half",
                                           integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY",
                                           config={"region": "us-east-1", "endpoint_url": s3_endpoint},
                                           secrets={"access_key_id": worker_env_keys[0]})
    with pytest.raises(integrations.IntegrationError, match="only one of its access key id and secret"):
        integrations.s3_client(integrations.s3_settings(half))


def test_another_workspace_cannot_read_the_platform_bucket(settings, s3_endpoint, s3_bucket, worker_env_keys,
                                                           make_user, project, owner, tmp_path):
    key_id, secret = worker_env_keys
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": s3_bucket, "endpoint_url": s3_endpoint, "region_name": "us-east-1", "access_key": key_id,
        "secret_key": secret, "addressing_style": "path", "location": "uploads", "file_overwrite": False}}}
    folder = cached_text_classifier(SENTIMENT)
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()]
    victim = registry.model_register(user=owner, project=project, name="victim", tags=[], source=ModelSource.UPLOAD,
                                     files=files, model_config={"hugging_face": {}}, validate=False)
    mallory = make_user("mallory")
    evil = services.workspace_create(user=mallory, name="Evil")
    proj = services.project_create(user=mallory, workspace=evil, name="p", description="",
                                   model_task="MODEL_TASK_BINARY_CLASSIFICATION")
    # Even with the platform's own keys typed into the integration, its bucket is off limits.
    for name, secrets in (("nokeys", {}), ("stolen-keys", {"access_key_id": key_id, "secret_access_key": secret})):
        lake = integrations.integration_create(user=mallory, workspace=evil, name=name,
                                               integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY",
                                               config={"region": "us-east-1", "endpoint_url": s3_endpoint},
                                               secrets=secrets)
        stolen = registry.model_register(user=mallory, project=proj, name=f"stolen-{name}", tags=[],
                                         source=ModelSource.HUGGING_FACE, integration=lake, validate=False,
                                         model_config={"hugging_face": {
                                             "model_uri": f"s3://{s3_bucket}/uploads/models/{victim.id}/"}})
        out = tmp_path / name
        with pytest.raises(sources.SourceError, match="this server's own storage"):
            sources.materialize_model(stolen, out)
        assert not (out / "model.safetensors").exists()
