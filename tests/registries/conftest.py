"""Registry fixtures: media in a temporary folder, constructed datasets and model folders with known answers."""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

MODEL_PY = """
import json
from pathlib import Path

import numpy as np

WEIGHTS = json.loads((Path(__file__).parent / "weights.json").read_text())


def predict_df(df):
    score = df["amount"].to_numpy(dtype=float) * WEIGHTS["amount"]
    return 1 / (1 + np.exp(-score))
"""


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path / "media")}}}
    # Django's setting_changed handler resets default_storage, so every test writes to its own folder.


@pytest.fixture(autouse=True)
def local_servers_allowed(allow_local_outbound):
    """Registry tests read from the local moto S3 server and PostgreSQL: loopback is allowed explicitly here (the
    policy itself is tested in tests/security/test_egress.py, where it is not)."""


def fraud_frame(n_rows: int = 60) -> pd.DataFrame:
    """amount decides fraud: the known answer the model below reproduces."""
    amounts = [float(i % 12) - 5.5 for i in range(n_rows)]
    return pd.DataFrame({
        "amount": amounts,
        "city": ["Rome" if i % 3 else "Oslo" for i in range(n_rows)],
        "is_fraud": [int(a > 0) for a in amounts],
        "ts": pd.date_range("2024-01-01", periods=n_rows, freq="h").astype(str),
    })


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


@pytest.fixture
def fraud_csv_upload():
    return SimpleUploadedFile("fraud.csv", csv_bytes(fraud_frame()), content_type="text/csv")


@pytest.fixture
def model_files() -> dict[str, bytes]:
    return {"model.py": MODEL_PY.encode(), "weights.json": b'{"amount": 2.0}'}


def uploads(files: dict[str, bytes]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, content) for name, content in files.items()]


def zip_bytes(files: dict[str, bytes]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


# --- an S3-compatible server on loopback (moto's server mode: real HTTP, real boto3) ----------------------------------


@pytest.fixture(scope="session")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request drowns the output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def boto_client(endpoint: str, service: str = "s3", key_id: str = "testing", secret: str = "testing"):
    import boto3
    from botocore.config import Config

    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                        aws_secret_access_key=secret, config=Config(s3={"addressing_style": "path"}))


@pytest.fixture
def s3_bucket(s3_endpoint, request):
    """A fresh bucket per test, so tests never see each other's objects."""
    import uuid

    name = f"rime-{uuid.uuid4().hex[:12]}"
    boto_client(s3_endpoint).create_bucket(Bucket=name)
    return name


def put_objects(endpoint: str, bucket: str, objects: dict[str, bytes], credentials=("testing", "testing")) -> None:
    client = boto_client(endpoint, "s3", *credentials)
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)


@pytest.fixture
def s3_keys(s3_endpoint):
    """Real IAM keys, and moto told to check every signature while the test runs (by default it accepts anything)."""
    import json
    import uuid

    from moto import settings as moto_settings

    iam = boto_client(s3_endpoint, "iam")
    user = f"rime-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="s3-all", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    previous = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    yield key["AccessKeyId"], key["SecretAccessKey"]
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = previous


@pytest.fixture
def make_s3_integration(workspace, owner, s3_endpoint):
    from projects.registries import integrations

    def make(name: str = "lake", *, key_id: str = "testing", secret: str = "testing-secret-value",
             endpoint: str | None = None):
        return integrations.integration_create(
            user=owner, workspace=workspace, name=name, integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY",
            config={"region": "us-east-1", "endpoint_url": endpoint or s3_endpoint},
            secrets={"access_key_id": key_id, "secret_access_key": secret},
        )

    return make


# --- running the engine on registered artifacts -----------------------------------------------------------------------


def run_engine(*, reference, evaluation, model=None, categories=None) -> dict:
    """What a stress-test run does with registered artifacts: read both datasets, materialise the model, run it in
    the sandbox, hand everything to the engine."""
    import tempfile

    from projects.registries import sources
    from stresstests.engine.config import DataParams, RunConfig
    from stresstests.engine.runner import run_stress_test
    from stresstests.engine.sandbox import SandboxedModel

    params = DataParams.from_dict({k: v for k, v in reference.data_params.items() if k != "loading_kwargs"})
    config = RunConfig.from_dict({"categories": categories or ["TEST_CATEGORY_TYPE_MODEL_PERFORMANCE"]})
    frames = {"reference": sources.load_dataset_frame(reference), "evaluation": sources.load_dataset_frame(evaluation)}
    task = reference.project.model_task
    if model is None:
        return run_stress_test(**frames, config=config, data_params=params, model_task=task, model=None)
    with tempfile.TemporaryDirectory() as folder:
        entry = sources.materialize_model(model, Path(folder))
        with SandboxedModel(entry, model_task=task) as adapter:
            return run_stress_test(**frames, config=config, data_params=params, model_task=task, model=adapter)


# --- a real PostgreSQL database holding the source tables -------------------------------------------------------------

SOURCE_PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@pytest.fixture(scope="session")
def source_pg_database():
    """A throwaway PostgreSQL database (separate from Django's test database) with a `transactions` table."""
    import os
    import uuid

    from tests.conftest import require

    import psycopg
    from psycopg.conninfo import make_conninfo
    admin_url = os.environ.get("REGISTRY_SOURCE_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        require(False, f"PostgreSQL on 127.0.0.1:5432 is needed for connection-table tests ({error})")
    name = f"rime_source_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(make_conninfo(admin_url, dbname=name), autocommit=True) as conn:
            _fill_source_tables(conn)
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _fill_source_tables(conn) -> None:
    frame = fraud_frame(120)
    conn.execute("CREATE TABLE transactions (amount double precision, city text, is_fraud integer, ts timestamp)")
    conn.execute("CREATE TABLE model_scores (score double precision, ts timestamp)")
    with conn.cursor() as cursor:
        # Stored newest first, so a read ordered by the timestamp column is observable.
        rows = [(r.amount, r.city, r.is_fraud, r.ts) for r in frame.itertuples()][::-1]
        cursor.executemany("INSERT INTO transactions VALUES (%s, %s, %s, %s)", rows)
        cursor.executemany("INSERT INTO model_scores VALUES (%s, %s)",
                           [(1 / (1 + 2.718281828 ** (-2 * r.amount)), r.ts) for r in frame.itertuples()])


@pytest.fixture
def make_pg_integration(workspace, owner, source_pg_database):
    from projects.registries import integrations

    def make(name: str = "warehouse"):
        return integrations.integration_create(
            user=owner, workspace=workspace, name=name, integration_type="INTEGRATION_TYPE_SQL",
            config={"dialect": "postgresql", "host": SOURCE_PG["host"], "port": SOURCE_PG["port"],
                    "database": source_pg_database, "username": SOURCE_PG["user"]},
            # Local PostgreSQL trusts loopback, so this password is never checked; it must still never leak.
            secrets={"password": "pg-password-never-shown-42"},
        )

    return make


def run_through_service(*, user, project, reference, evaluation, model, categories=None):
    """The real path: stresstests.services starts a run from RIME's test_run_config and executes it (in this
    process, as the Celery task would), so the run reads every artifact through projects.registries.sources."""
    from stresstests import services
    from stresstests.execution import run_execute

    config = {"run_name": "registries", "model_id": str(model.id),
              "data_info": {"ref_dataset_id": str(reference.id), "eval_dataset_id": str(evaluation.id)},
              "categories": categories or ["TEST_CATEGORY_TYPE_MODEL_PERFORMANCE"]}
    run = services.run_start_from_config(user=user, project=project, test_run_config=config)
    run_execute(run.id)
    run.refresh_from_db()
    return run
