"""Reading registered artifacts from where they live: Django storage, S3 (through an integration), an allow-listed
server folder, or a database table. Every failure is a SourceError whose message a user can act on, without secrets.
"""
from __future__ import annotations

import contextlib
import os
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd
from django.conf import settings

from stresstests.engine import data as engine_data
from stresstests.engine import data_stream
from stresstests.engine.errors import EngineError, ModelLoadError
from stresstests.engine.hugging_face import CONFIG, is_hugging_face_folder, write_sidecar

from . import egress, integrations, sql_policy, storage
from .integrations import IntegrationError, S3Settings
from projects.models import Dataset, DatasetSource, Integration, IntegrationType, ModelSource, Predictions, RegisteredModel

logger = logging.getLogger(__name__)

# Bounded reads: a table is never read whole; above the cap it is sampled (or cut, when sampling is off).
DEFAULT_TABLE_ROW_CAP = 200_000
MAX_REMOTE_MODEL_FILES = 1000
S3_CHUNK_BYTES = 1024 * 1024
# Identifiers: letters, digits, _ and $, at most 63 characters (PostgreSQL's limit); schema.table allowed.
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
REGISTRY_URI_RE = re.compile(r"^models:/(?P<name>[A-Za-z0-9_.-]{1,100})/(?P<version>[A-Za-z0-9_.-]{1,50})/?$")


SOURCE_ROW_COUNT = data_stream.SOURCE_ROW_COUNT

# The model files a folder may hold instead of a model.py.
NATIVE_MODEL_SUFFIXES = (".pkl", ".pickle", ".joblib", ".cbm", ".catb", ".json", ".ubj", ".txt", ".skops", ".onnx")


class SourceError(EngineError):
    """Data or a model cannot be fetched from its source; the message says why and is safe to show."""


def table_row_cap() -> int:
    return int(getattr(settings, "REGISTRY_TABLE_ROW_CAP", DEFAULT_TABLE_ROW_CAP))


# --- datasets and predictions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameRequest:
    """What to read, common to datasets and predictions (both rows have source/file/path/integration/table_name)."""

    source: str
    file_name: str
    path: str
    integration: Integration | None
    table_name: str
    timestamp_col: str = ""
    nrows: int | None = None
    sample: bool = True
    loading_kwargs: dict | None = None
    seed: int = 0
    sample_rows: int | None = None   # rows a file too large for memory keeps (DATASET_STREAM_SAMPLE_ROWS by default)


def load_dataset_frame(dataset: Dataset, *, nrows: int | None = None, seed: int = 0,
                       sample_rows: int | None = None) -> pd.DataFrame:
    """The dataset as a DataFrame, from any source; `nrows` (or data_params.nrows) bounds the rows read. A file too
    large for memory is streamed and `sample_rows` of its rows kept, drawn with `seed` (engine/data_stream.py)."""
    params = dataset.data_params or {}
    request = FrameRequest(
        source=dataset.source, file_name=dataset.file.name if dataset.file else "", path=dataset.path,
        integration=dataset.integration, table_name=dataset.table_name,
        timestamp_col=params.get("timestamp_col") or "", nrows=nrows or params.get("nrows"),
        sample=bool(params.get("sample", True)), loading_kwargs=params.get("loading_kwargs") or None,
        seed=seed, sample_rows=sample_rows,
    )
    return read_frame(request, what=f"Dataset {dataset.name}")


def load_predictions_frame(predictions: Predictions) -> pd.DataFrame:
    """Predictions rows in the dataset's row order (tables are read ordered by timestamp when one is given)."""
    params = predictions.pred_params or {}
    request = FrameRequest(
        source=predictions.source, file_name=predictions.file.name if predictions.file else "",
        path=predictions.path, integration=predictions.integration, table_name=predictions.table_name,
        timestamp_col=params.get("timestamp_col") or "", sample=False,
    )
    return read_frame(request, what=f"Predictions of {predictions.model} on {predictions.dataset}")


def read_frame(request: FrameRequest, *, what: str) -> pd.DataFrame:
    try:
        if request.source == DatasetSource.UPLOAD:
            if not request.file_name:
                raise SourceError(f"{what} has no uploaded file.")
            with storage.local_path(request.file_name) as local:
                return _load_file(local, request, max_bytes=storage.max_upload_bytes())
        if request.source == DatasetSource.PATH:
            with fetch_data_path(request.path, request.integration, max_bytes=stream_max_bytes()) as local:
                return _load_file(local, request, max_bytes=stream_max_bytes())
        if request.source == DatasetSource.TABLE:
            return read_table(request.integration, request.table_name, timestamp_col=request.timestamp_col,
                              row_cap=request.nrows or table_row_cap(), sample=request.sample)
    except IntegrationError as error:
        raise SourceError(f"{what}: {error}") from None
    except FileNotFoundError:
        raise SourceError(f"{what}: its stored file is missing from storage; register it again.") from None
    raise SourceError(f"{what} has an unknown source {request.source!r}.")


def stream_max_bytes() -> int:
    """The largest data file read from S3 or a server path (and a .gz one's decompressed size): an S3 object is
    downloaded to the worker's temporary folder, so this is also the disk a read may take."""
    return int(settings.DATASET_STREAM_MAX_BYTES)


def _load_file(path: Path, request: FrameRequest, *, max_bytes: int) -> pd.DataFrame:
    stream = data_stream.StreamOptions(sample_rows=request.sample_rows or settings.DATASET_STREAM_SAMPLE_ROWS,
                                       batch_rows=settings.DATASET_STREAM_BATCH_ROWS, seed=request.seed,
                                       max_stream_rows=settings.DATASET_STREAM_MAX_ROWS)
    return engine_data.load_dataset(path, nrows=request.nrows, loading_kwargs=request.loading_kwargs,
                                    max_decompressed_bytes=max_bytes,
                                    max_parquet_rows=settings.DATASET_PARQUET_MAX_ROWS,
                                    max_parquet_memory_bytes=settings.DATASET_PARQUET_MAX_MEMORY_MB * 1024**2,
                                    stream=stream)


@contextlib.contextmanager
def fetch_data_path(path: str, integration: Integration | None, *, max_bytes: int | None = None) -> Iterator[Path]:
    """A local file for `path`: s3://bucket/key downloaded (streamed to the worker's disk, at most `max_bytes`, by
    default the upload limit) with the integration's credentials, or a server path."""
    if path.startswith(("s3://", "s3a://")):
        if integration is None:
            raise SourceError(f"{path} needs an S3 integration to read it.")
        bucket, key = integrations.split_s3_uri(path)
        suffix = "".join(PurePosixPath(key).suffixes[-2:])
        with tempfile.TemporaryDirectory(prefix="rime-s3-") as folder:
            target = Path(folder) / f"data{suffix}"
            download_s3_object(integrations.s3_settings(integration), bucket, key, target, integration=integration,
                               max_bytes=max_bytes)
            yield target
        return
    yield integrations.check_server_path(path, what="Data path")


# --- S3 ---------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def s3_errors(uri: str, integration: Integration | None) -> Iterator[None]:
    """Turns boto errors into one plain sentence; wrong keys, a missing bucket and an unreachable endpoint differ."""
    from botocore.exceptions import (BotoCoreError, ClientError, EndpointConnectionError, HTTPClientError,
                                     NoCredentialsError)

    try:
        yield
    except HTTPClientError as error:
        refused = error.kwargs.get("error")
        if isinstance(refused, egress.EgressRefused):  # the guarded connection refused the address it resolved
            raise SourceError(f"{uri}: {refused}") from None
        raise SourceError(integrations.redact(f"S3 error for {uri}: {error}", integration)) from None
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        raise SourceError(integrations.redact(_s3_message(uri, code, error), integration)) from None
    except EndpointConnectionError as error:
        raise SourceError(f"Cannot reach the S3 endpoint for {uri} ({error.kwargs.get('endpoint_url', '')}): check "
                          "the integration's endpoint URL.") from None
    except NoCredentialsError:
        raise SourceError(f"No S3 credentials for {uri}: set the integration's access key id and secret.") from None
    except BotoCoreError as error:
        raise SourceError(integrations.redact(f"S3 error for {uri}: {error}", integration)) from None


def _s3_message(uri: str, code: str, error: Exception) -> str:
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "InvalidToken"):
        return f"S3 refused the integration's credentials for {uri} ({code}): check the access key id and secret."
    if code == "NoSuchBucket":
        return f"The bucket of {uri} does not exist (or the endpoint URL points at another store)."
    if code in ("NoSuchKey", "404"):
        return f"{uri} does not exist in its bucket."
    return f"S3 error for {uri}: {code or type(error).__name__}."


def download_s3_object(s3: S3Settings, bucket: str, key: str, target: Path, *, integration=None,
                       max_bytes: int | None = None) -> None:
    uri = f"s3://{bucket}/{key}"
    integrations.check_bucket(bucket)
    client = integrations.s3_client(s3)
    with s3_errors(uri, integration):
        # One GET, streamed and counted: a HEAD first and a download after could see two different objects.
        _stream_s3_object(client, bucket, key, target, cap=max_bytes or storage.max_upload_bytes(), uri=uri)


def _stream_s3_object(client, bucket: str, key: str, target: Path, *, cap: int, uri: str) -> int:
    """Write the object to `target`, refusing it (and removing what was written) once it passes `cap` bytes."""
    response = client.get_object(Bucket=bucket, Key=key)
    body = response["Body"]
    written = 0
    try:
        declared = int(response.get("ContentLength") or 0)
        if declared > cap:
            raise SourceError(f"{uri} is {storage.human_size(declared)}; the limit is {storage.human_size(cap)}.")
        with target.open("wb") as out:
            for chunk in body.iter_chunks(S3_CHUNK_BYTES):
                written += len(chunk)
                if written > cap:
                    raise SourceError(f"{uri} is larger than the limit of {storage.human_size(cap)}; it was not "
                                      "downloaded.")
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        body.close()
    return written


def download_s3_prefix(s3: S3Settings, bucket: str, prefix: str, dest: Path, *, integration=None) -> list[Path]:
    """Every object under `prefix` into `dest` (a model.py and the files beside it), capped in count and bytes."""
    uri = f"s3://{bucket}/{prefix}"
    integrations.check_bucket(bucket)
    client = integrations.s3_client(s3)
    with s3_errors(uri, integration):
        objects = _list_s3_objects(client, bucket, prefix, uri)
        written, budget = [], storage.max_upload_bytes()  # the listing's sizes may have changed since: count again
        for key in objects:
            relative = storage.safe_relative_path(key[len(prefix):], where=uri)
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                budget -= _stream_s3_object(client, bucket, key, target, cap=budget, uri=f"s3://{bucket}/{key}")
            except SourceError:
                limit = storage.human_size(storage.max_upload_bytes())
                raise SourceError(f"{uri} holds more than {limit} in all; the limit is {limit}.") from None
            written.append(target)
    return written


def _list_s3_objects(client, bucket: str, prefix: str, uri: str) -> list[str]:
    keys, total = [], 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):
                continue
            keys.append(item["Key"])
            total += item.get("Size", 0)
    if not keys:
        raise SourceError(f"Nothing is stored under {uri}.")
    if len(keys) > MAX_REMOTE_MODEL_FILES or total > storage.max_upload_bytes():
        raise SourceError(f"{uri} holds {len(keys)} files ({storage.human_size(total)}); the limit is "
                          f"{MAX_REMOTE_MODEL_FILES} files and {storage.human_size(storage.max_upload_bytes())}.")
    return keys


# --- SQL tables -------------------------------------------------------------------------------------------------------


def check_identifier(name: str, *, what: str) -> None:
    if not IDENTIFIER_RE.match(name or ""):
        raise SourceError(f"{what} “{name}” is not a plain identifier (letters, digits, _ ; at most 63 characters).")


def split_table_name(table_name: str) -> tuple[str | None, str]:
    """`schema.table` or `table`; each part must be a plain identifier, so nothing can be injected."""
    parts = (table_name or "").split(".")
    if len(parts) > 2:
        raise SourceError(f"Table “{table_name}” has too many dots; write table or schema.table.")
    for part in parts:
        check_identifier(part, what="Table name")
    if len(parts) == 2:
        try:
            sql_policy.check_schema(parts[0])
        except sql_policy.SqlOptionError as error:
            raise SourceError(str(error)) from None
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def table_columns(engine, table_name: str) -> list[str]:
    """The table's real columns; the table must be one the database lists (tables and views)."""
    from sqlalchemy import inspect

    schema, name = split_table_name(table_name)
    inspector = inspect(engine)
    known = set(inspector.get_table_names(schema=schema)) | set(inspector.get_view_names(schema=schema))
    if name not in known:
        raise SourceError(f"Table “{table_name}” does not exist in this database.")
    return [column["name"] for column in inspector.get_columns(name, schema=schema)]


def describe_table(integration: Integration, table_name: str) -> list[str]:
    """The column names of a table (for the wizard's column pickers); the table must exist."""
    with _sql_connection_errors(integration):
        engine = integrations.sql_engine(integration)
        try:
            return table_columns(engine, table_name)
        finally:
            engine.dispose()


def list_tables(integration: Integration) -> list[str]:
    """Table and view names of the integration's database (for the wizard's connection browser)."""
    from sqlalchemy import inspect

    with _sql_connection_errors(integration):
        engine = integrations.sql_engine(integration)
        try:
            inspector = inspect(engine)
            return sorted(set(inspector.get_table_names()) | set(inspector.get_view_names()))
        finally:
            engine.dispose()


def read_table(integration: Integration | None, table_name: str, *, timestamp_col: str = "",
               row_cap: int | None = None, sample: bool = True, seed: int = 0) -> pd.DataFrame:
    """At most `row_cap` rows of a validated table, sampled at random in the database when it is larger."""
    if integration is None or integration.integration_type != IntegrationType.SQL:
        raise SourceError("A table can only be read through a SQL database integration.")
    row_cap = min(row_cap or table_row_cap(), table_row_cap())
    with _sql_connection_errors(integration):
        engine = integrations.sql_engine(integration)
        try:
            columns = table_columns(engine, table_name)
            if timestamp_col:
                check_identifier(timestamp_col, what="Timestamp column")
                if timestamp_col not in columns:
                    raise SourceError(f"Timestamp column “{timestamp_col}” is not a column of {table_name}; "
                                      f"its columns are {', '.join(columns[:20])}.")
            return _select_rows(engine, table_name, columns, timestamp_col, row_cap, sample, seed)
        finally:
            engine.dispose()


def _select_rows(engine, table_name: str, columns: list[str], timestamp_col: str, row_cap: int, sample: bool,
                 seed: int) -> pd.DataFrame:
    from sqlalchemy import column, func, select, table

    schema, name = split_table_name(table_name)
    # sqlalchemy's table()/column() quote every identifier; names were also checked against the real catalogue.
    source = table(name, *[column(c) for c in columns], schema=schema)
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(source)).scalar_one()
        statement = select(*source.columns).limit(row_cap)
        if total > row_cap and sample:
            statement = statement.order_by(_seeded_random(connection, seed))
        elif timestamp_col:
            statement = statement.order_by(source.c[timestamp_col])
        frame = pd.read_sql(statement, connection)
    if timestamp_col and total > row_cap and sample:
        frame = frame.sort_values(timestamp_col, kind="stable").reset_index(drop=True)
    if frame.empty:
        raise SourceError(f"Table {table_name} has no rows.")
    frame.attrs[SOURCE_ROW_COUNT] = int(total)  # the table's size, which validation records, not the rows read
    return frame


def _seeded_random(connection, seed: int):
    """ORDER BY a random number, seeded where the database allows it (PostgreSQL, MySQL) so a sample repeats;
    SQLite's random() cannot be seeded."""
    from sqlalchemy import func, select

    dialect = connection.dialect.name
    if dialect == "mysql":
        return func.rand(seed)
    if dialect == "postgresql":
        connection.execute(select(func.setseed((seed % 1000) / 1000)))
    return func.random()


@contextlib.contextmanager
def _sql_connection_errors(integration: Integration) -> Iterator[None]:
    from sqlalchemy.exc import DBAPIError, NoSuchModuleError, SQLAlchemyError

    try:
        yield
    except IntegrationError as error:
        raise SourceError(str(error)) from None
    except DBAPIError as error:
        # str(error) may carry the statement and parameters; keep only the driver's first line, scrubbed.
        first = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        raise SourceError(integrations.redact(f"Database {integration.name}: {first}", integration)) from None
    except NoSuchModuleError as error:
        raise SourceError(f"Database {integration.name}: its driver is not installed ({error}).") from None
    except SQLAlchemyError as error:
        raise SourceError(integrations.redact(f"Database {integration.name}: {type(error).__name__}", integration)
                          ) from None


# --- models -----------------------------------------------------------------------------------------------------------

HUB_ENDPOINT = "https://huggingface.co"
HUB_TIMEOUT_S = 10
HUB_FILE_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.bin", "tokenizer*", "vocab*", "merges*"]
TOKENIZER_FOLDER = "tokenizer"
NO_HUB_MESSAGE = ("no model hub is reachable from this server{reason}, so the Hugging Face model {uri} cannot be "
                  "downloaded. Upload the model's folder (written by save_pretrained) in the model registry or the "
                  "wizard, or put it on S3 and register its s3:// prefix with an S3 integration.")


def materialize_model(model: RegisteredModel, dest: Path) -> Path | None:
    """Copies or downloads the model's files into `dest`; the returned path goes to load_model / SandboxedModel.
    None means the model has no artifact (predictions only)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    what = f"Model {model.name}"
    hugging_face = (model.model_config or {}).get("hugging_face")
    try:
        if model.source == ModelSource.NONE:
            return None
        if model.source == ModelSource.UPLOAD:
            storage.download_prefix(model.storage_prefix, dest)
            if hugging_face:
                return _finish_hugging_face(model, hugging_face, dest, what)
            return _entry(dest, model.entry_point, what)
        if model.source == ModelSource.PATH:
            return _materialize_path(model, dest, what)
        if model.source == ModelSource.HUGGING_FACE:
            _fetch_hugging_face(model, (hugging_face or {}).get("model_uri", ""), dest, what)
            return _finish_hugging_face(model, hugging_face or {}, dest, what)
    except IntegrationError as error:
        raise SourceError(f"{what}: {error}") from None
    raise SourceError(f"{what} has an unknown source {model.source!r}.")


def hugging_face_uri_kind(uri: str) -> str:
    """"s3", "path" (a server folder) or "hub" (a model id such as org/name)."""
    if uri.startswith(("s3://", "s3a://")):
        return "s3"
    if uri.startswith(("/", "~", ".")):
        return "path"
    return "hub"


def _fetch_hugging_face(model: RegisteredModel, uri: str, dest: Path, what: str) -> None:
    """The save_pretrained files of `uri` into `dest`: an S3 prefix, an allow-listed server folder or a hub id."""
    kind = hugging_face_uri_kind(uri)
    integration = model.integration
    if kind == "s3":
        if integration is None or integration.integration_type != IntegrationType.S3:
            raise SourceError(f"{what}: {uri} needs an S3 integration to read it.")
        bucket, prefix = integrations.split_s3_uri(uri)
        prefix = prefix if not prefix or prefix.endswith("/") else f"{prefix}/"
        download_s3_prefix(integrations.s3_settings(integration), bucket, prefix, dest, integration=integration)
    elif kind == "path":
        folder = integrations.check_server_path(uri, what="Model path")
        if not folder.is_dir():
            raise SourceError(f"{what}: {uri} is not a folder; give the folder save_pretrained wrote.")
        copy_server_folder(folder, dest)
    else:
        _download_from_hub(uri, dest, integration, what)


def _download_from_hub(repo_id: str, dest: Path, integration: Integration | None, what: str) -> None:
    """snapshot_download, only where a hub may be reached: HF_HUB_OFFLINE unset and the endpoint allowed and up."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no", "off"):
        raise ModelLoadError(f"{what}: " + NO_HUB_MESSAGE.format(reason=" (HF_HUB_OFFLINE is set)", uri=repo_id))
    hub = integration if integration is not None and integration.integration_type == IntegrationType.HUGGINGFACE \
        else None
    endpoint = ((hub.config.get("endpoint") if hub else "") or os.environ.get("HF_ENDPOINT") or HUB_ENDPOINT)
    token = (hub.get_secrets().get("token") or hub.get_secrets().get("HUGGINGFACE_API_TOKEN")) if hub else None
    try:
        egress.check_url(endpoint, what="Hub endpoint")
    except egress.EgressRefused as error:
        raise ModelLoadError(f"{what}: " + NO_HUB_MESSAGE.format(reason=f" ({error})", uri=repo_id)) from None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    egress.guard_hub_client()  # every connection (redirects too) checked and pinned; no Xet
    try:
        snapshot_download(repo_id, local_dir=dest, token=token or None, endpoint=endpoint.rstrip("/"),
                          allow_patterns=HUB_FILE_PATTERNS, etag_timeout=HUB_TIMEOUT_S)
        shutil.rmtree(dest / ".cache", ignore_errors=True)  # the download's bookkeeping, not the model's
    except egress.EgressRefused:
        # The host is not named: it came from the hub (a redirect), and where it leads is not the tenant's business.
        _clear_folder(dest)
        raise ModelLoadError(f"{what}: the hub at {endpoint} sent the download of {repo_id} to a host this server "
                             "does not connect to on a user's behalf (a private, internal or link-local address); "
                             "nothing was downloaded.") from None
    except RepositoryNotFoundError:
        raise SourceError(f"{what}: the hub at {endpoint} has no model {repo_id} (or it is private: add a Hugging "
                          "Face integration with a token).") from None
    except (HfHubHTTPError, OSError, ValueError) as error:
        reason = integrations.redact(f" ({type(error).__name__}: {str(error).splitlines()[0][:200]})", hub)
        raise ModelLoadError(f"{what}: " + NO_HUB_MESSAGE.format(reason=reason, uri=repo_id)) from None


def _clear_folder(folder: Path) -> None:
    for path in folder.iterdir():
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink(missing_ok=True)


def _finish_hugging_face(model: RegisteredModel, config: dict, dest: Path, what: str) -> Path:
    """A separate tokenizer into dest/tokenizer/, then the sidecar the engine's adapter reads (class map etc.)."""
    if not (dest / CONFIG).is_file():
        raise ModelLoadError(f"{what}: the model's files hold no config.json, so they are not a Hugging Face model "
                             "folder. Save the model with `model.save_pretrained(folder)` and upload that folder.")
    tokenizer_uri = (config.get("tokenizer_uri") or "").strip()
    tokenizer_dir = "."
    if tokenizer_uri and tokenizer_uri != (config.get("model_uri") or "").strip():
        tokenizer_dir = TOKENIZER_FOLDER
        target = dest / TOKENIZER_FOLDER
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        _fetch_hugging_face(model, tokenizer_uri, target, f"{what} (its tokenizer)")
    write_sidecar(dest, tokenizer_dir=tokenizer_dir, class_map=config.get("class_map") or None,
                  ignore_class_names=bool(config.get("ignore_class_names", False)))
    return dest


def note_run_data(model_path: Path | None, data_params: dict) -> None:
    """Tell a Hugging Face model folder which columns hold its text (and the project's class names), from the
    dataset's data_params; other models need nothing."""
    if model_path is None or not is_hugging_face_folder(Path(model_path)):
        return
    text_features = list(data_params.get("text_features") or [])
    class_names = list(data_params.get("class_names") or [])
    write_sidecar(Path(model_path), text_features=text_features or None, label_names=class_names or None)


def _entry(dest: Path, entry_point: str, what: str) -> Path:
    entry = dest / storage.safe_relative_path(entry_point or "", where=what) if entry_point else dest
    if not entry.exists():
        raise ModelLoadError(f"{what}: its entry point {entry_point} is missing from the stored files.")
    return entry


def _materialize_path(model: RegisteredModel, dest: Path, what: str) -> Path:
    path, integration = model.path, model.integration
    if integration is not None and integration.integration_type == IntegrationType.MLFLOW:
        path = resolve_registry_uri(integration, path)
    folder_uri, entry_name = split_model_path(path)
    if folder_uri.startswith(("s3://", "s3a://")):
        if integration is None:
            raise SourceError(f"{what}: {path} needs an S3 integration to read it.")
        bucket, prefix = integrations.split_s3_uri(folder_uri)
        download_s3_prefix(integrations.s3_settings(integration), bucket, prefix, dest, integration=integration)
    else:
        folder = integrations.check_server_path(folder_uri, what="Model path")
        if not folder.is_dir():
            raise SourceError(f"{what}: {folder_uri} is not a folder.")
        copy_server_folder(folder, dest)
    return _entry(dest, entry_name or _guess_entry(dest, what), what)


def copy_server_folder(folder: Path, dest: Path) -> None:
    """An allow-listed server folder's files, without its symbolic links: a link may lead out of the allowed folder
    (to another tenant's files or the server's own), and the allow-list is checked on the folder alone."""
    shutil.copytree(folder, dest, dirs_exist_ok=True, symlinks=False,
                    ignore=lambda root, names: [n for n in names if (Path(root) / n).is_symlink()])


def split_model_path(path: str) -> tuple[str, str]:
    """(folder with a trailing /, entry file name or "" when the path names a folder)."""
    if path.endswith("/"):
        return path, ""
    folder, _, name = path.rpartition("/")
    return f"{folder}/", name


def _guess_entry(dest: Path, what: str) -> str:
    if (dest / "model.py").exists():
        return "model.py"
    natives = [p.name for p in dest.iterdir() if p.is_file() and p.suffix.lower() in NATIVE_MODEL_SUFFIXES]
    if len(natives) == 1:
        return natives[0]
    raise ModelLoadError(f"{what}: the folder has no model.py and not exactly one model file ({', '.join(natives)}).")


def resolve_registry_uri(integration: Integration, uri: str) -> str:
    """`models:/<name>/<version>` -> `<artifact_root>/<name>/<version>/`; a relative path is joined to the root."""
    registry = integrations.registry_settings(integration)
    match = REGISTRY_URI_RE.match(uri)
    if match:
        return f"{registry.artifact_root}/{match['name']}/{match['version']}/"
    relative = storage.safe_relative_path(uri.lstrip(), where=f"Registry {integration.name}")
    return f"{registry.artifact_root}/{relative}" + ("/" if uri.endswith("/") else "")


def data_load_error(error: Exception) -> str:
    """One message for the validity status, whatever failed."""
    from django.core.exceptions import ValidationError

    if isinstance(error, EngineError):
        return str(error)
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return f"{type(error).__name__}: {error}"
