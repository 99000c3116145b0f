"""Outbound connections, SQL driver options, loader options and cheap checks (issue 19, findings 2-5).

Each finding as reproduced by the outside attacker comes first (it passed on the original code), then variants. The
servers are real: moto's S3 server, the PostgreSQL and MariaDB servers of this machine. Only DNS, which lives outside
the machine, is replaced where a test needs a name to change its answer. Loopback is NOT allowed here by default (the
policy is what is tested); tests that need a local server allow exactly it.
"""
from __future__ import annotations

import gzip
import json
import socket
import tracemalloc
import uuid
from pathlib import Path

import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.registries import integrations, sources
from projects.registries import services as registry
from projects.models import Dataset, Integration, IntegrationType
from stresstests.engine import data as engine_data
from stresstests.engine.errors import DataLoadError
from tests.conftest import require
from tests.registries.conftest import (  # noqa: F401 (fixtures)
    SOURCE_PG,
    fraud_frame,
    put_objects,
    s3_bucket,
    s3_endpoint,
    source_pg_database,
)

from .conftest import stored_files

pytestmark = pytest.mark.django_db
SETTING_HINT = "OUTBOUND_ALLOWED_HOSTS"


@pytest.fixture(autouse=True)
def nothing_allowed(settings, monkeypatch):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    monkeypatch.delenv("OUTBOUND_ALLOWED_HOSTS", raising=False)


def post_integration(client, workspace, slug: str, data: dict):
    return client.post(reverse("projects:integration_create", args=[workspace.id, slug]), data)


def stored_integration(workspace, owner, integration_type: str, config: dict, secrets: dict) -> Integration:
    """A row saved without the service's checks: what an integration saved before this policy existed looks like."""
    integration = Integration(workspace=workspace, name=f"old-{uuid.uuid4().hex[:6]}", created_by=owner,
                              integration_type=integration_type, config=config)
    integration.set_secrets(secrets)
    integration.save()
    return integration


# ---- finding 3: server-side request forgery through S3 endpoints and SQL hosts --------------------------------------

PRIVATE_ENDPOINTS = [
    ("http://127.0.0.1:9000", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://10.20.30.40:9000", "private"),
    ("http://172.16.5.4", "private"),
    ("http://192.168.1.10:9000", "private"),
    ("http://[::1]:9000", "loopback"),
    ("http://[::ffff:127.0.0.1]:9000", "loopback"),
    ("http://[::ffff:169.254.169.254]", "link-local"),
    ("http://0.0.0.0:9000", "unspecified"),
    ("http://localhost:9000", "loopback"),
    ("http://100.64.1.1", "not publicly routable"),
    ("http://224.0.0.251", "multicast"),
]


@pytest.mark.parametrize(("endpoint", "kind"), PRIVATE_ENDPOINTS, ids=[e for e, _ in PRIVATE_ENDPOINTS])
def test_an_s3_integration_with_a_private_endpoint_is_refused_when_saved(client_for, owner, workspace, endpoint, kind):
    response = post_integration(client_for(owner), workspace, "s3", {
        "name": "lake", "region": "us-east-1", "endpoint_url": endpoint, "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": "secret-example-value"})
    text = response.content.decode()
    assert response.status_code == 200
    assert kind in text and SETTING_HINT in text
    assert not Integration.objects.exists()


@pytest.mark.parametrize("endpoint", ["http://2130706433:9000", "http://0177.0.0.1:9000", "http://0x7f.1:9000"])
def test_loopback_in_numeric_disguise_is_refused(owner, workspace, endpoint):
    """127.0.0.1 as one decimal number, in octal, in hex: the browser form's URL field refuses these already, the
    API does not, and the resolver reads them all as 127.0.0.1."""
    with pytest.raises(ValidationError, match="resolves to 127.0.0.1, which is a loopback address"):
        integrations.integration_create(user=owner, workspace=workspace, name="lake",
                                        integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY",
                                        config={"endpoint_url": endpoint}, secrets={})


def test_the_sdk_cannot_point_an_integration_at_the_metadata_service(client, owner, workspace):
    from projects import services as project_services

    key = project_services.api_key_create(user=owner, workspace=workspace, name="egress")[1]
    schema = [{"name": "AWS_ENDPOINT_URL", "sensitivity": "VARIABLE_SENSITIVITY_PUBLIC",
               "value": "http://169.254.169.254"}]
    body = {"integration": {"workspaceId": {"uuid": str(workspace.id)}, "name": "s3", "schema": {"variables": schema},
                            "type": "INTEGRATION_TYPE_AWS_ACCESS_KEY"}}
    response = client.post("/v1-beta/integrations", json.dumps(body), content_type="application/json",
                           HTTP_RIME_API_KEY=key)
    assert response.status_code == 400
    assert "169.254.169.254 is a link-local address" in response.json()["message"]
    assert not Integration.objects.exists()


@pytest.mark.parametrize(("slug", "data", "message"), [
    ("registry", {"name": "mlflow", "artifact_root": "s3://models/registry", "endpoint_url": "http://10.0.0.7:9000"},
     "10.0.0.7 is a private address"),
    ("sql", {"name": "db", "dialect": "postgresql", "host": "192.168.0.20", "database": "dw"},
     "192.168.0.20 is a private address"),
    ("sql", {"name": "db", "url": "mysql+pymysql://u:p@[::1]:3306/dw"}, "::1 is a loopback address"),
    ("sql", {"name": "db", "url": "postgresql://postgres@127.0.0.1:5432/postgres"}, "127.0.0.1 is a loopback address"),
])
def test_registries_and_databases_on_private_hosts_are_refused_when_saved(client_for, owner, workspace, slug, data,
                                                                          message):
    response = post_integration(client_for(owner), workspace, slug, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Integration.objects.exists()


@pytest.mark.parametrize("host", ["/var/run/postgresql", "8.8.8.8,127.0.0.1", "db host"])
def test_a_sql_host_that_is_a_socket_path_or_a_list_is_refused(owner, workspace, host):
    with pytest.raises(ValidationError, match="is not a host name or an IP address"):
        integrations.integration_create(user=owner, workspace=workspace, name="db", integration_type="INTEGRATION_TYPE_SQL",
                                        config={"dialect": "postgresql", "host": host, "database": "dw"}, secrets={})


def test_the_servers_own_broker_is_refused_even_on_a_public_address(settings, owner, workspace):
    settings.CELERY_BROKER_URL = "redis://8.8.4.4:6379/0"   # checked only: nothing connects there
    with pytest.raises(ValidationError, match="this server's own message broker"):
        integrations.integration_create(user=owner, workspace=workspace, name="db", integration_type="INTEGRATION_TYPE_SQL",
                                        config={"dialect": "mysql", "host": "8.8.4.4", "database": "dw"}, secrets={})


def test_a_stored_integration_with_a_loopback_endpoint_is_not_fetched(owner, workspace, s3_endpoint, s3_bucket):
    """The attack: the endpoint's answer came back as dataset columns. Now nothing is fetched and the message says
    which setting would allow it."""
    put_objects(s3_endpoint, s3_bucket, {"ref.csv": b"leaked_secret,label\n1,0\n"})
    lake = stored_integration(workspace, owner, IntegrationType.S3, {"endpoint_url": s3_endpoint},
                              {"access_key_id": "testing", "secret_access_key": "testing"})
    with pytest.raises(sources.SourceError, match=f"127.0.0.1 is a loopback address.*{SETTING_HINT}"):
        read_s3(lake, f"s3://{s3_bucket}/ref.csv")


def read_s3(integration, uri: str) -> pd.DataFrame:
    """What validation and a run do with a dataset registered by S3 path."""
    request = sources.FrameRequest(source="path", file_name="", path=uri, integration=integration, table_name="")
    return sources.read_frame(request, what="Dataset ref")


def test_a_stored_model_registry_on_loopback_is_not_downloaded(owner, project, s3_endpoint, s3_bucket, tmp_path):
    """The model side of the same attack: a registry's model folder would be downloaded from the endpoint."""
    from projects.models import ModelSource, RegisteredModel

    put_objects(s3_endpoint, s3_bucket, {"registry/fraud/1/model.py": b"def predict_df(df):\n    return df\n"})
    mlflow = stored_integration(project.workspace, owner, IntegrationType.MLFLOW,
                                {"artifact_root": f"s3://{s3_bucket}/registry", "endpoint_url": s3_endpoint},
                                {"access_key_id": "testing", "secret_access_key": "testing"})
    model = RegisteredModel.objects.create(project=project, name="fraud", source=ModelSource.PATH,
                                           path="models:/fraud/1", integration=mlflow, created_by=owner)
    with pytest.raises(sources.SourceError, match="127.0.0.1 is a loopback address"):
        sources.materialize_model(model, tmp_path / "model")
    assert not (tmp_path / "model" / "model.py").exists()


def test_a_hub_endpoint_on_the_metadata_address_is_refused(owner, workspace):
    with pytest.raises(ValidationError, match="Hub endpoint: 169.254.169.254 is a link-local address"):
        integrations.integration_create(user=owner, workspace=workspace, name="hub",
                                        integration_type="INTEGRATION_TYPE_HUGGINGFACE",
                                        config={"endpoint": "http://169.254.169.254"}, secrets={})


def test_the_operator_allows_a_local_store_by_setting(settings, owner, workspace, s3_endpoint, s3_bucket):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.0/8"]
    put_objects(s3_endpoint, s3_bucket, {"ref.csv": b"amount,label\n1,0\n"})
    lake = integrations.integration_create(user=owner, workspace=workspace, name="lake",
                                           integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY",
                                           config={"endpoint_url": s3_endpoint},
                                           secrets={"access_key_id": "testing", "secret_access_key": "testing"})
    with sources.fetch_data_path(f"s3://{s3_bucket}/ref.csv", lake) as local:
        assert local.read_bytes() == b"amount,label\n1,0\n"


def test_a_name_that_resolves_elsewhere_when_connecting_is_caught_at_the_socket(monkeypatch, owner, workspace,
                                                                                 s3_endpoint, s3_bucket):
    """DNS rebinding: the name passes the check made when the client is built (a public address), then answers
    loopback; the connection itself checks the address it is about to use."""
    put_objects(s3_endpoint, s3_bucket, {"ref.csv": b"leaked_secret,label\n1,0\n"})
    port = int(s3_endpoint.rsplit(":", 1)[1])
    real_getaddrinfo, answers = socket.getaddrinfo, ["93.184.215.14"]

    def rebinding_dns(host, *args, **kwargs):
        if host != "store.rebind.example":
            return real_getaddrinfo(host, *args, **kwargs)
        address = answers.pop(0) if answers else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    lake = stored_integration(workspace, owner, IntegrationType.S3,
                              {"endpoint_url": f"http://store.rebind.example:{port}"},
                              {"access_key_id": "testing", "secret_access_key": "testing"})
    with pytest.raises(sources.SourceError, match="resolves to 127.0.0.1, which is a loopback address"):
        read_s3(lake, f"s3://{s3_bucket}/ref.csv")
    assert not answers  # the first (public) answer was used by the early check, the second refused at the socket


def test_a_sql_engine_connects_to_the_address_it_checked(settings, monkeypatch, owner, workspace):
    """The driver is handed the checked address, so a second DNS answer is never asked for."""
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    real_getaddrinfo, answers = socket.getaddrinfo, ["127.0.0.1"]

    def one_answer_dns(host, *args, **kwargs):
        if host != "db.rebind.example":
            return real_getaddrinfo(host, *args, **kwargs)
        if not answers:
            raise AssertionError("the driver resolved the name again instead of using the checked address")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers.pop(0), 5432))]

    monkeypatch.setattr(socket, "getaddrinfo", one_answer_dns)
    db = stored_integration(workspace, owner, IntegrationType.SQL, {"by_url": True},
                            {"url": "postgresql://postgres@db.rebind.example:5432/postgres"})
    engine = integrations.sql_engine(db)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("select inet_server_addr()::text").scalar() in ("127.0.0.1/32",
                                                                                                "127.0.0.1")
    finally:
        engine.dispose()


# ---- finding 3, SQL side: system schemas ------------------------------------------------------------------------------

@pytest.mark.parametrize("table", ["pg_catalog.pg_authid", "information_schema.tables", "PG_CATALOG.pg_user",
                                   "mysql.user", "performance_schema.threads", "sys.processlist"])
def test_a_system_schema_is_refused_as_a_dataset_table(settings, owner, project, table):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]   # even with the server allowed, its catalogue is not a dataset
    db = integrations.integration_create(user=owner, workspace=project.workspace, name="db",
                                         integration_type="INTEGRATION_TYPE_SQL",
                                         config={"dialect": "postgresql", "host": "127.0.0.1", "database": "x"},
                                         secrets={})
    with pytest.raises(ValidationError, match="is a system schema"):
        registry.dataset_register(user=owner, project=project, name="hashes", source="table", integration=db,
                                  table_name=table, data_params={"label_col": "label"}, validate=False)
    assert not Dataset.objects.exists()


def test_a_stored_table_in_pg_catalog_is_not_read(settings, owner, project, source_pg_database):
    """The attack validated pg_catalog.pg_authid (password hashes) through the app's own PostgreSQL."""
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    db = stored_integration(project.workspace, owner, IntegrationType.SQL,
                            {"dialect": "postgresql", "host": SOURCE_PG["host"], "port": SOURCE_PG["port"],
                             "database": source_pg_database, "username": SOURCE_PG["user"]}, {})
    with pytest.raises(sources.SourceError, match="“pg_catalog” is a system schema"):
        sources.read_table(db, "pg_catalog.pg_authid")


def test_a_mysql_integration_on_a_system_database_is_refused(settings, owner, workspace):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    with pytest.raises(ValidationError, match="“mysql” is a system database"):
        integrations.integration_create(user=owner, workspace=workspace, name="db",
                                        integration_type="INTEGRATION_TYPE_SQL",
                                        config={"dialect": "mysql", "host": "127.0.0.1", "database": "mysql"},
                                        secrets={})


# ---- finding 2: MySQL LOCAL INFILE and other driver options -----------------------------------------------------------

@pytest.fixture
def mariadb(settings, tmp_path):
    """A throwaway database and user on this machine's MariaDB, with LOCAL INFILE enabled on the server (as a rogue
    server would have it) and a table to load into."""
    import pymysql

    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    try:
        admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True,
                                connect_timeout=5)
    except pymysql.err.OperationalError as error:
        require(False, f"MariaDB on 127.0.0.1:3306 is needed for the LOCAL INFILE tests ({error})")
    name, password = f"rime_egress_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with admin.cursor() as cursor:
        cursor.execute("SELECT @@GLOBAL.local_infile")
        previous = cursor.fetchone()[0]
        cursor.execute("SET GLOBAL local_infile = 1")
        cursor.execute(f"CREATE DATABASE `{name}`")
        cursor.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'")
        cursor.execute(f"GRANT ALL ON `{name}`.* TO '{name}'@'%'")
        cursor.execute(f"CREATE TABLE `{name}`.loot (line TEXT)")
    try:
        yield {"url": f"mysql://{name}:{password}@127.0.0.1:3306/{name}", "database": name, "admin": admin}
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"DROP USER IF EXISTS '{name}'@'%'")
            cursor.execute(f"SET GLOBAL local_infile = {int(previous)}")
        admin.close()


def loot_rows(mariadb) -> int:
    with mariadb["admin"].cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{mariadb['database']}`.loot")
        return cursor.fetchone()[0]


def test_a_mysql_url_asking_for_local_infile_is_refused_when_saved(client_for, owner, workspace, mariadb):
    response = post_integration(client_for(owner), workspace, "sql",
                                {"name": "rogue", "url": f"{mariadb['url']}?local_infile=1"})
    assert response.status_code == 200
    assert "Database URL option “local_infile” is not accepted for mysql" in response.content.decode()
    assert not Integration.objects.exists()


def test_a_stored_mysql_url_with_local_infile_never_connects(owner, workspace, mariadb):
    rogue = stored_integration(workspace, owner, IntegrationType.SQL, {"by_url": True},
                               {"url": f"{mariadb['url']}?local_infile=1"})
    with pytest.raises(sources.SourceError, match="“local_infile” is not accepted"):
        sources.list_tables(rogue)


def test_local_infile_is_off_at_the_driver_whatever_the_url_says(monkeypatch, owner, workspace, mariadb, tmp_path):
    """Even if the option allow-list had a hole, the driver sends no file when the server asks for one."""
    from projects.registries import sql_policy

    secret = tmp_path / "local.env"
    secret.write_text("DJANGO_SECRET_KEY=do-not-upload-me\n")
    monkeypatch.setattr(sql_policy, "check_query", lambda backend, query: None)
    rogue = stored_integration(workspace, owner, IntegrationType.SQL, {"by_url": True},
                               {"url": f"{mariadb['url']}?local_infile=1&client_flag=128"})
    engine = integrations.sql_engine(rogue)
    try:
        with pytest.raises(Exception) as failure:
            with engine.connect() as connection:
                connection.exec_driver_sql(f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE loot")
    finally:
        engine.dispose()
    assert any("local_infile option is false" in str(error) for error in exception_chain(failure.value))
    assert loot_rows(mariadb) == 0


def exception_chain(error: BaseException | None):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def test_a_plain_mysql_integration_still_reads_tables(owner, project, mariadb):
    with mariadb["admin"].cursor() as cursor:
        cursor.execute(f"CREATE TABLE `{mariadb['database']}`.scores (amount DOUBLE, label INT)")
        cursor.execute(f"INSERT INTO `{mariadb['database']}`.scores VALUES (1.5, 0), (2.5, 1)")
    db = integrations.integration_create(user=owner, workspace=project.workspace, name="maria",
                                         integration_type="INTEGRATION_TYPE_SQL", config={"by_url": True},
                                         secrets={"url": f"{mariadb['url']}?charset=utf8mb4"})
    frame = sources.read_table(db, "scores")
    assert sorted(frame["amount"]) == [1.5, 2.5]


@pytest.mark.parametrize(("url", "option"), [
    ("mysql://u:p@8.8.8.8/dw?client_flag=128", "client_flag"),
    ("mysql://u:p@8.8.8.8/dw?read_default_file=/etc/mysql/my.cnf", "read_default_file"),
    ("mysql://u:p@8.8.8.8/dw?unix_socket=/run/mysqld/mysqld.sock", "unix_socket"),
    ("mysql://u:p@8.8.8.8/dw?ssl_key=/work/main/var/local.env", "ssl_key"),
    ("postgresql://u:p@8.8.8.8/dw?host=/var/run/postgresql", "host"),
    ("postgresql://u:p@8.8.8.8/dw?sslkey=/work/main/var/local.env", "sslkey"),
    ("postgresql://u:p@8.8.8.8/dw?passfile=/root/.pgpass", "passfile"),
    ("postgresql://u:p@8.8.8.8/dw?options=-csearch_path%3Dpg_catalog", "options"),
    ("sqlite:////tmp/x.db?uri=true", "uri"),
])
def test_driver_options_outside_the_allow_list_are_refused(owner, workspace, url, option):
    with pytest.raises(ValidationError, match=f"Database URL option “{option}” is not accepted"):
        integrations.integration_create(user=owner, workspace=workspace, name="db",
                                        integration_type="INTEGRATION_TYPE_SQL", config={"by_url": True},
                                        secrets={"url": url})
    assert not Integration.objects.exists()


@pytest.mark.parametrize(("url", "message"), [
    ("postgresql://u:p@8.8.8.8/dw?sslmode=sometimes", "“sslmode” must be disable, allow"),
    ("mysql://u:p@8.8.8.8/dw?charset=utf8;DROP", "“charset” must be a character set name"),
    ("postgresql://u:p@/dw", "names no host"),
])
def test_allowed_driver_options_are_checked_for_shape(owner, workspace, url, message):
    with pytest.raises(ValidationError, match=message):
        integrations.integration_create(user=owner, workspace=workspace, name="db",
                                        integration_type="INTEGRATION_TYPE_SQL", config={"by_url": True},
                                        secrets={"url": url})


# ---- finding 4: user-given loader options ------------------------------------------------------------------------------

def small_csv(sep: str = ",") -> bytes:
    return f"amount{sep}label\n1{sep}0\n2{sep}1\n3{sep}0\n".encode()


def register_upload(owner, project, content: bytes, loading_kwargs, name: str = "data.csv"):
    return registry.dataset_register(user=owner, project=project, name="ref", source="upload",
                                     file=SimpleUploadedFile(name, content),
                                     data_params={"label_col": "label", "loading_kwargs": loading_kwargs},
                                     validate=False)


def test_a_catastrophic_regular_expression_separator_is_refused_at_registration(owner, project, settings):
    """The attack: pandas' python engine ran `(x+x+)+y` over every line and kept the worker busy for minutes."""
    with pytest.raises(ValidationError, match="Loading option “engine” is not accepted: the parser engine is fixed"):
        register_upload(owner, project, small_csv(), {"engine": "python", "sep": "(x+x+)+y"})
    assert not Dataset.objects.exists() and stored_files(settings) == []


def test_the_api_refuses_a_regular_expression_separator_with_a_message(client, owner, project, settings):
    from projects import services as project_services

    key = project_services.api_key_create(user=owner, workspace=project.workspace, name="egress")[1]
    params = {"label_col": "label", "loading_kwargs": {"engine": "python", "sep": "(x+x+)+y"}}
    response = client.post(f"/api/v1/projects/{project.id}/datasets", {
        "name": "x", "file": SimpleUploadedFile("d.csv", small_csv()), "data_params": json.dumps(params)},
        HTTP_RIME_API_KEY=key)
    assert response.status_code == 400
    assert "Loading option “engine” is not accepted" in response.json()["message"]
    assert not Dataset.objects.exists() and stored_files(settings) == []


def test_a_stored_regular_expression_separator_is_refused_when_read(tmp_path):
    """A dataset registered before the check: the loader refuses the options itself, before reading a line."""
    path = tmp_path / "data.csv"
    path.write_bytes(small_csv())
    with pytest.raises(DataLoadError, match="“engine” is not accepted"):
        engine_data.load_dataset(path, loading_kwargs={"engine": "python", "sep": "(x+x+)+y"})


@pytest.mark.parametrize(("options", "message"), [
    ({"sep": "(x+x+)+y"}, "“sep” must be one character"),
    ({"sep": ";;"}, "“sep” must be one character"),
    ({"sep": "\\s+"}, "“sep” must be one character"),
    ({"delimiter": "a|b"}, "“delimiter” must be one character"),
    ({"sep": None}, "“sep” must be one character"),
    ({"storage_options": {"client_kwargs": {"endpoint_url": "http://169.254.169.254"}}},
     "“storage_options” is not accepted"),
    ({"skipfooter": 1}, "“skipfooter” is not accepted"),
    ({"encoding": "rot13"}, "“encoding” must be one of utf-8"),
    ({"compression": "zip"}, "compression is recognised from the file's content"),
    ({"dtype": {"amount": "object; import os"}}, "“dtype” must be a type name"),
    ({"usecols": "lambda c: True"}, "“usecols” must be a list of column names"),
    ({"na_values": ["x"] * 5000}, "“na_values” must be a string or a list"),
    ({"header": 10**9}, "“header” must be a row number"),
])
def test_loader_options_outside_the_allow_list_are_refused_naming_the_key(owner, project, settings, tmp_path, options,
                                                                          message):
    with pytest.raises(ValidationError, match=message):
        register_upload(owner, project, small_csv(), options)
    assert not Dataset.objects.exists() and stored_files(settings) == []
    path = tmp_path / "data.csv"
    path.write_bytes(small_csv())
    with pytest.raises(DataLoadError, match=message):
        engine_data.load_dataset(path, loading_kwargs=options)


def test_allowed_loader_options_still_work(tmp_path):
    semicolons = tmp_path / "semi.csv"
    semicolons.write_bytes(small_csv(";"))
    frame = engine_data.load_dataset(semicolons, loading_kwargs={"sep": ";", "na_values": ["n/a"]})
    assert list(frame.columns) == ["amount", "label"] and list(frame["amount"]) == [1, 2, 3]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("city,label\nSão Paulo,1\nZürich,0\n".encode("latin-1"))
    frame = engine_data.load_dataset(latin, loading_kwargs={"encoding": "latin-1"})
    assert list(frame["city"]) == ["São Paulo", "Zürich"]


def test_a_csv_option_on_a_parquet_file_is_refused(tmp_path):
    path = tmp_path / "data.parquet"
    pd.DataFrame({"amount": [1.0, 2.0], "label": [0, 1]}).to_parquet(path)
    with pytest.raises(DataLoadError, match="“sep” applies to CSV files; this file is PARQUET"):
        engine_data.load_dataset(path, loading_kwargs={"sep": ";"})


# ---- finding 5: cheap checks before any parse ---------------------------------------------------------------------------

def refused_with_peak(path: Path, **kwargs) -> tuple[str, int]:
    """The refusal's message and the peak memory Python allocated while the file was refused."""
    tracemalloc.start()
    try:
        with pytest.raises(DataLoadError) as refused:
            engine_data.load_dataset(path, **kwargs)
        return str(refused.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


SMALL_MEMORY = 64 * 1024**2


def wide_header(columns: int, sep: str = ",") -> bytes:
    return (sep.join(f"c{i}" for i in range(columns)) + "\n" + sep.join("1" * 1 for _ in range(3)) + "\n").encode()


def test_a_csv_with_a_million_header_columns_is_refused_from_its_first_bytes(tmp_path):
    """The attack: 1,000,001 header columns were refused only after a full parse (34 s, 1.3 GB)."""
    path = tmp_path / "wide.csv"
    path.write_bytes(wide_header(1_000_001))
    message, peak = refused_with_peak(path)
    assert "columns; a stress test handles at most 1,000" in message
    assert peak < SMALL_MEMORY, f"{peak / 1024**2:.0f} MB allocated to refuse it"


@pytest.mark.parametrize("variant", ["gzipped", "semicolons", "after skipped rows"])
def test_wide_csv_variants_are_refused_before_parsing(tmp_path, variant):
    path = tmp_path / ("wide.csv.gz" if variant == "gzipped" else "wide.csv")
    options = {}
    if variant == "gzipped":
        path.write_bytes(gzip.compress(wide_header(200_000)))
    elif variant == "semicolons":
        path.write_bytes(wide_header(200_000, ";"))
        options = {"sep": ";"}
    else:
        path.write_bytes(b"# exported by a tool\n" + wide_header(200_000))
        options = {"skiprows": 1}
    message, peak = refused_with_peak(path, loading_kwargs=options)
    assert "columns; a stress test handles at most 1,000" in message
    assert peak < SMALL_MEMORY


def test_a_first_line_longer_than_the_limit_is_refused(tmp_path):
    path = tmp_path / "long.csv"
    path.write_bytes(b"x" * (3 * 1024**2) + b"\n1\n")
    message, peak = refused_with_peak(path)
    assert "its first line is longer than 1 MB" in message
    assert peak < SMALL_MEMORY


def test_json_lines_and_parquet_with_too_many_columns_are_refused_from_their_headers(tmp_path):
    lines = tmp_path / "wide.jsonl"
    record = {f"c{i}": 1 for i in range(5000)}
    lines.write_text(json.dumps(record) + "\n" + json.dumps(record) + "\n")
    assert "has 5,000 columns" in refused_with_peak(lines)[0]
    parquet = tmp_path / "wide.parquet"
    pd.DataFrame({f"c{i}": [1] for i in range(2000)}).to_parquet(parquet)
    assert "has 2,000 columns" in refused_with_peak(parquet)[0]


def test_a_csv_within_the_limits_loads(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_bytes(fraud_frame(30).to_csv(index=False).encode())
    assert engine_data.load_dataset(path).shape == (30, 4)


def test_egress_checks_have_no_blind_spot_for_mapped_addresses():
    from projects.registries import egress

    assert egress.refusal_reason(egress.ipaddress.ip_address("::ffff:10.0.0.1")) == "a private address"
    assert egress.refusal_reason(egress.ipaddress.ip_address("64:ff9b::a9fe:a9fe")) == "a link-local address"
    assert egress.refusal_reason(egress.ipaddress.ip_address("93.184.215.14")) == ""
