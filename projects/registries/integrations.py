"""Integrations: typed settings per type, clients built from them (boto3, SQLAlchemy), and their admin-only services.

Secrets are write-only: they are encrypted on the row, decrypted only to build a client, and scrubbed from every
message that could reach a page, an API response or a log line.
"""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from projects.models import Integration, IntegrationType, Workspace

from . import egress, sql_policy

SQL_DIALECTS = {
    "postgresql": ("postgresql+psycopg", 5432),
    "mysql": ("mysql+pymysql", 3306),
    "sqlite": ("sqlite", None),
}
# Which secret names each type accepts; anything else a form sends is ignored, so no stray value is stored.
SECRET_NAMES = {
    IntegrationType.S3: ("access_key_id", "secret_access_key"),
    IntegrationType.SQL: ("password", "url"),
    IntegrationType.HUGGINGFACE: ("token",),
    IntegrationType.MLFLOW: ("access_key_id", "secret_access_key", "token"),
}
CONFIG_NAMES = {
    IntegrationType.S3: ("region", "endpoint_url"),
    IntegrationType.SQL: ("dialect", "host", "port", "database", "username", "sqlite_path", "by_url"),
    IntegrationType.HUGGINGFACE: ("endpoint",),
    IntegrationType.MLFLOW: ("artifact_root", "region", "endpoint_url"),
    IntegrationType.CUSTOM: ("variables",),
}
CUSTOM_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


class IntegrationError(Exception):
    """A connection failed or is misconfigured; the message is safe to show (secrets are scrubbed)."""


# --- typed settings ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Settings:
    region: str = ""
    endpoint_url: str = ""
    access_key_id: str = field(default="", repr=False)
    secret_access_key: str = field(default="", repr=False)


@dataclass(frozen=True)
class SqlSettings:
    dialect: str
    host: str = ""
    port: int | None = None
    database: str = ""
    username: str = ""
    sqlite_path: str = ""
    password: str = field(default="", repr=False)
    url: str = field(default="", repr=False)


@dataclass(frozen=True)
class RegistrySettings:
    """A file-based model registry (MLflow-style layout `<artifact_root>/<name>/<version>/`) on S3 or a server path."""

    artifact_root: str
    s3: S3Settings


def s3_settings(integration: Integration) -> S3Settings:
    _require_type(integration, IntegrationType.S3, IntegrationType.MLFLOW)
    secrets, config = integration.get_secrets(), integration.config
    return S3Settings(
        region=config.get("region", ""),
        endpoint_url=config.get("endpoint_url", ""),
        # RIME's variable names are accepted too (the admin's raw secrets form suggests them).
        access_key_id=secrets.get("access_key_id") or secrets.get("AWS_ACCESS_KEY_ID", ""),
        secret_access_key=secrets.get("secret_access_key") or secrets.get("AWS_SECRET_ACCESS_KEY", ""),
    )


def sql_settings(integration: Integration) -> SqlSettings:
    _require_type(integration, IntegrationType.SQL)
    secrets, config = integration.get_secrets(), integration.config
    port = config.get("port")
    return SqlSettings(
        dialect=config.get("dialect", ""),
        host=config.get("host", ""),
        port=int(port) if port else None,
        database=config.get("database", ""),
        username=config.get("username", ""),
        sqlite_path=config.get("sqlite_path", ""),
        password=secrets.get("password", ""),
        url=secrets.get("url", ""),
    )


def registry_settings(integration: Integration) -> RegistrySettings:
    _require_type(integration, IntegrationType.MLFLOW)
    root = (integration.config.get("artifact_root") or "").rstrip("/")
    if not root:
        raise IntegrationError(f"Model registry {integration.name} has no artifact root; an admin must set one.")
    return RegistrySettings(artifact_root=root, s3=s3_settings(integration))


def _require_type(integration: Integration, *types: str) -> None:
    if integration.integration_type not in types:
        wanted = " or ".join(IntegrationType(t).label for t in types)
        raise IntegrationError(f"Integration {integration.name} is {integration.get_integration_type_display()}, "
                               f"not {wanted}.")


def redact(text: str, integration: Integration | None) -> str:
    """Replaces every secret value of the integration in `text` (error messages from drivers can echo them)."""
    if integration is None:
        return text
    for value in integration.get_secrets().values():
        if value and len(str(value)) >= 4:
            text = text.replace(str(value), "***")
    return text


# --- clients ----------------------------------------------------------------------------------------------------------

# botocore logs each request's headers at DEBUG, and the Authorization header names the access key id.
CREDENTIAL_RE = re.compile(r"(Credential=)[^/,\s'\"]+")
BOTO_LOGGERS = ("botocore.endpoint", "botocore.auth", "botocore.httpsession", "botocore.parsers", "urllib3")


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = CREDENTIAL_RE.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


@functools.cache
def _redact_boto_logs() -> None:
    for name in BOTO_LOGGERS:
        logging.getLogger(name).addFilter(RedactCredentials())



def s3_client(s3: S3Settings):
    """A client whose every connection goes through the outbound policy (checked now for a clear message, and again
    by the connection itself when it opens a socket)."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    _redact_boto_logs()
    if s3.endpoint_url:
        _checked(egress.check_url, s3.endpoint_url, what="S3 endpoint")
    if bool(s3.access_key_id) != bool(s3.secret_access_key):
        raise IntegrationError("The S3 integration has only one of its access key id and secret; set both, or "
                               "neither to read public buckets anonymously.")
    # Never the worker's own credentials (its environment, ~/.aws, an instance role): those are the platform's, and
    # boto3 falls back to them whenever no keys are given. Without keys, requests go unsigned (public buckets only).
    signed = bool(s3.access_key_id)
    session = boto3.session.Session(aws_access_key_id=s3.access_key_id or None,
                                    aws_secret_access_key=s3.secret_access_key or None,
                                    aws_session_token=None, region_name=s3.region or "us-east-1")
    client = session.client(
        "s3",
        endpoint_url=s3.endpoint_url or None,
        config=Config(
            s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=60, retries={"max_attempts": 2},
            **({} if signed else {"signature_version": UNSIGNED}),
        ),
    )
    egress.guard_boto_client(client)
    return client


def platform_buckets() -> set[str]:
    """The buckets of this server's own storage (every S3 backend in STORAGES, and AWS_STORAGE_BUCKET_NAME)."""
    found = {str(getattr(settings, "AWS_STORAGE_BUCKET_NAME", "") or "")}
    for backend in (getattr(settings, "STORAGES", None) or {}).values():
        options = backend.get("OPTIONS") or {}
        if "s3" in str(backend.get("BACKEND", "")).lower() and options.get("bucket_name"):
            found.add(str(options["bucket_name"]))
    return {bucket.lower() for bucket in found if bucket}


def check_bucket(bucket: str) -> str:
    """Refuses the server's own storage bucket: its files belong to every workspace, read only through the app."""
    if bucket.lower() in platform_buckets():
        raise IntegrationError(f"Bucket {bucket} is this server's own storage; an integration cannot read it. Register "
                               "the files from your own bucket, or upload them.")
    return bucket


def _checked(check, *args, **kwargs):
    try:
        return check(*args, **kwargs)
    except (egress.EgressRefused, sql_policy.SqlOptionError) as error:
        raise IntegrationError(str(error)) from None


def sql_url(sql: SqlSettings):
    from sqlalchemy.engine import make_url
    from sqlalchemy.engine.url import URL

    if sql.url:
        try:
            url = make_url(sql.url)
        except Exception:  # sqlalchemy's ArgumentError; its text would echo the URL and its password
            raise IntegrationError("The database URL cannot be parsed; write dialect://user:password@host:port/db.") \
                from None
        base = url.get_backend_name()
        if base not in SQL_DIALECTS:
            raise IntegrationError(f"Unsupported database {base}; use PostgreSQL, MySQL/MariaDB or SQLite.")
        _checked(sql_policy.check_query, base, dict(url.query))
        url = url.set(drivername=SQL_DIALECTS[base][0])
        if base == "sqlite":
            check_server_path(url.database or "", what="SQLite database")
        elif not url.host:
            # Without a host the drivers fall back to a local unix socket, which no policy check would see.
            raise IntegrationError("The database URL names no host; write dialect://user:password@host:port/db.")
        _checked(sql_policy.check_database, base, url.database)
        return url
    if sql.dialect not in SQL_DIALECTS:
        raise IntegrationError(f"Unsupported database {sql.dialect!r}; use postgresql, mysql or sqlite.")
    driver, default_port = SQL_DIALECTS[sql.dialect]
    if sql.dialect == "sqlite":
        return URL.create(driver, database=str(check_server_path(sql.sqlite_path, what="SQLite database")))
    _checked(sql_policy.check_database, sql.dialect, sql.database)
    return URL.create(driver, username=sql.username or None, password=sql.password or None,
                      host=sql.host or "127.0.0.1", port=sql.port or default_port, database=sql.database or None)


def sql_engine(integration: Integration):
    """A short-lived engine (no pool kept between reads); callers dispose it. The host is checked against the outbound
    policy now and the driver connects to the checked address, so a later DNS answer cannot redirect it."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    url = sql_url(sql_settings(integration))
    backend = url.get_backend_name()
    addresses: tuple[str, ...] = ()
    if backend != "sqlite":
        addresses = _checked(egress.check_host, url.host, url.port, what=f"Database {integration.name}")
    connect_args = sql_policy.connect_args(backend, addresses)
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def check_server_path(raw: str, *, what: str) -> Path:
    """A server path is readable only inside settings.DATA_PATH_ALLOWLIST (symlinks resolved first)."""
    if not raw:
        raise IntegrationError(f"{what}: no path given.")
    resolved = Path(raw).expanduser().resolve()
    for allowed in settings.DATA_PATH_ALLOWLIST:
        if resolved.is_relative_to(Path(allowed).resolve()):
            return resolved
    folders = ", ".join(str(p) for p in settings.DATA_PATH_ALLOWLIST) or "none are configured (DATA_PATH_ALLOWLIST)"
    raise IntegrationError(f"{what}: {raw} is outside the folders this server may read from: {folders}.")


def split_s3_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme not in ("s3", "s3a") or not parts.netloc:
        raise IntegrationError(f"{uri} is not an S3 URI; write s3://bucket/key.")
    return parts.netloc, parts.path.lstrip("/")


# --- services (admin only; views check the role through selectors.get_workspace_for_user(manage=True)) -------------


def integration_create(*, user, workspace: Workspace, name: str, integration_type: str, config: dict,
                       secrets: dict[str, str]) -> Integration:
    """Creates an integration; `secrets` are encrypted and never readable again through any page or API."""
    from projects.services import audit

    if workspace.integrations.filter(name__iexact=name).exists():
        raise ValidationError({"name": f"This workspace already has an integration named “{name}”."})
    integration = Integration(workspace=workspace, name=name, integration_type=integration_type, created_by=user)
    integration.config = clean_config(integration_type, config)
    integration.set_secrets(clean_secrets(integration_type, secrets))
    check_outbound(integration)
    with transaction.atomic():
        integration.save()
        audit(actor=user, action="integration.create", obj=integration, workspace=workspace,
              integration_type=integration_type)
    return integration


def integration_update(*, user, integration: Integration, name: str, config: dict, secrets: dict[str, str],
                       forget: list[str] | tuple[str, ...] = ()) -> Integration:
    """Blank secret values keep the stored ones (they are write-only, so a form cannot show them); `forget` drops
    the named secrets."""
    from projects.services import audit

    clash = integration.workspace.integrations.filter(name__iexact=name).exclude(id=integration.id)
    if clash.exists():
        raise ValidationError({"name": f"This workspace already has an integration named “{name}”."})
    kept = {key: value for key, value in integration.get_secrets().items() if key not in forget}
    given = clean_secrets(integration.integration_type, secrets)
    integration.name = name
    integration.config = clean_config(integration.integration_type, config)
    integration.set_secrets({**kept, **given})
    check_outbound(integration)
    with transaction.atomic():
        integration.save()
        audit(actor=user, action="integration.update", obj=integration, workspace=integration.workspace,
              changed_secrets=sorted(given), forgotten_secrets=sorted(set(forget)))
    return integration


def integration_delete(*, user, integration: Integration) -> None:
    from projects.services import audit

    with transaction.atomic():
        audit(actor=user, action="integration.delete", obj=integration, workspace=integration.workspace)
        integration.delete()


def clean_config(integration_type: str, config: dict) -> dict:
    allowed = CONFIG_NAMES.get(integration_type, ())
    cleaned = {key: value for key, value in config.items() if key in allowed and value not in ("", None)}
    if integration_type == IntegrationType.SQL and not cleaned.get("by_url"):
        if cleaned.get("dialect") not in SQL_DIALECTS:
            raise ValidationError({"dialect": "Choose PostgreSQL, MySQL/MariaDB or SQLite."})
    if integration_type == IntegrationType.CUSTOM:
        variables = cleaned.get("variables") or {}
        _check_custom_keys(variables)
    return cleaned


def clean_secrets(integration_type: str, secrets: dict[str, str]) -> dict[str, str]:
    if integration_type == IntegrationType.CUSTOM:
        _check_custom_keys(secrets)
        return {key: str(value) for key, value in secrets.items() if value}
    allowed = SECRET_NAMES.get(integration_type, ())
    return {key: str(value) for key, value in secrets.items() if key in allowed and value}


def check_outbound(integration: Integration) -> None:
    """Save-time check of where the integration would connect: the outbound policy for its hosts, and the SQL URL's
    options and database. A name that does not resolve yet passes; every connection checks again."""
    kind, config = integration.integration_type, integration.config
    try:
        if kind in (IntegrationType.S3, IntegrationType.MLFLOW) and config.get("endpoint_url"):
            egress.check_url(config["endpoint_url"], what="Endpoint URL", at_save=True)
        if kind == IntegrationType.HUGGINGFACE and config.get("endpoint"):
            egress.check_url(config["endpoint"], what="Hub endpoint", at_save=True)
        if kind == IntegrationType.SQL:
            _check_sql_outbound(integration)
    except egress.EgressRefused as error:
        field_name = {IntegrationType.SQL: "host", IntegrationType.HUGGINGFACE: "endpoint"}.get(kind, "endpoint_url")
        raise ValidationError({field_name: str(error)}) from None


def _check_sql_outbound(integration: Integration) -> None:
    sql = sql_settings(integration)
    if sql.url.lower().startswith("sqlite") or (not sql.url and sql.dialect == "sqlite"):
        # A server file, checked against DATA_PATH_ALLOWLIST when it is read; only the URL's options are checked now.
        _check_sqlite_query(sql.url)
        return
    try:
        url = sql_url(sql)
    except IntegrationError as error:
        raise ValidationError({"url" if sql.url else "database": redact(str(error), integration)}) from None
    if url.get_backend_name() != "sqlite":
        egress.check_host(url.host, url.port, what="Database host", at_save=True)


def _check_sqlite_query(url: str) -> None:
    from sqlalchemy.engine import make_url

    if not url:
        return
    try:
        sql_policy.check_query("sqlite", dict(make_url(url).query))
    except sql_policy.SqlOptionError as error:
        raise ValidationError({"url": str(error)}) from None
    except Exception:  # sqlalchemy's ArgumentError, whose text echoes the URL
        raise ValidationError({"url": "The database URL cannot be parsed."}) from None


def _check_custom_keys(values: dict) -> None:
    bad = [key for key in values if not CUSTOM_KEY_RE.match(key)]
    if bad:
        raise ValidationError({"secrets": f"Key names must be letters, digits and _ (not {', '.join(bad)})."})


def custom_values(integration: Integration) -> dict[str, str]:
    """RIME's integration_dict for a model or loader: plain variables plus decrypted secrets."""
    return {**(integration.config.get("variables") or {}), **integration.get_secrets()}


def credential_status(integration: Integration) -> str:
    """RIME's Configured / Not Configured, without revealing which values are set."""
    needed = {
        IntegrationType.S3: ("access_key_id", "secret_access_key"),
        IntegrationType.HUGGINGFACE: ("token",),
    }.get(integration.integration_type, ())
    names = set(integration.secret_names)
    return "Configured" if all(name in names for name in needed) else "Not Configured"
