"""Issue 18: a dataset on S3 (moto's server) too large for the memory limits is validated and run on a sample drawn
while it is read, in bounded memory; an S3 data file is capped by DATASET_STREAM_MAX_BYTES, not the upload limit."""
from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from projects.models import ValidityStatus
from projects.registries import services as registry, sources, validation
from stresstests.engine.data_stream import stream_sampling

from .conftest import boto_client, csv_bytes, fraud_frame, put_objects, run_engine

pytestmark = pytest.mark.django_db

LABELS = {"label_col": "is_fraud", "timestamp_col": "ts"}
ROWS, KEEP, BATCH = 24_000, 1_000, 1_500


def parquet_bytes(frame, row_group_size: int) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, row_group_size=row_group_size)
    return buffer.getvalue()


@pytest.fixture
def large_bucket(settings, s3_endpoint, s3_bucket):
    settings.DATASET_PARQUET_MAX_ROWS = 5_000          # past it: streamed
    settings.DATASET_PARQUET_MAX_MEMORY_MB = 1         # CSV: streamed past 256 KB of text
    settings.DATASET_STREAM_SAMPLE_ROWS = KEEP
    settings.DATASET_STREAM_BATCH_ROWS = BATCH
    settings.MAX_UPLOAD_BYTES = 10_000                 # smaller than both files: S3 data keeps its own cap
    frame = fraud_frame(ROWS)
    put_objects(s3_endpoint, s3_bucket, {"big.parquet": parquet_bytes(frame, 1_000),
                                         "big.csv.gz": gzip.compress(csv_bytes(frame)),
                                         "small.csv": csv_bytes(fraud_frame(80))})
    return s3_bucket


def register(project, owner, integration, uri: str, name: str):
    dataset = registry.dataset_register(user=owner, project=project, name=name, source="path", data_params=LABELS,
                                        path=uri, integration=integration, validate=False)
    return validation.dataset_validate(dataset)


@pytest.mark.parametrize("key", ["big.parquet", "big.csv.gz"])
def test_a_large_s3_dataset_is_validated_on_a_streamed_sample_and_counts_every_row(project, owner, key, s3_endpoint,
                                                                                   make_s3_integration, large_bucket):
    dataset = register(project, owner, make_s3_integration(), f"s3://{large_bucket}/{key}", "big")
    assert dataset.validity_status == ValidityStatus.VALID, dataset.validity_message
    assert dataset.row_count == ROWS
    stored = boto_client(s3_endpoint).head_object(Bucket=large_bucket, Key=key)["ContentLength"]
    assert dataset.size_bytes == stored     # the file's size, not the sample's
    assert dataset.validity_message == (f"{ROWS:,} rows (streamed: {ROWS:,} rows read in {ROWS // BATCH} batches of at "
                                        f"most {BATCH:,} rows; {KEEP:,} kept by reservoir sampling (seed 0); checked "
                                        "on those), 4 columns.")
    frame = sources.load_dataset_frame(dataset, seed=3)
    streamed = stream_sampling(frame)
    assert (len(frame), streamed["rows_read"], streamed["seed"]) == (KEEP, ROWS, 3)
    assert streamed["max_rows_held"] <= KEEP + BATCH
    assert frame["ts"].is_monotonic_increasing   # kept in file order: the time order survives sampling


def test_a_run_on_a_large_s3_dataset_reports_the_streamed_sampling(project, owner, make_s3_integration, large_bucket):
    lake = make_s3_integration()
    reference = register(project, owner, lake, f"s3://{large_bucket}/small.csv", "ref")
    evaluation = register(project, owner, lake, f"s3://{large_bucket}/big.parquet", "eval")
    report = run_engine(reference=reference, evaluation=evaluation)
    run = report["run"]
    assert (run["evaluation"]["rows"], run["evaluation"]["sampled_rows"]) == (ROWS, KEEP)
    assert run["evaluation"]["streamed"]["method"] == "reservoir"
    assert (run["reference"]["rows"], run["reference"]["streamed"]) == (80, None)


def test_an_s3_data_file_past_dataset_stream_max_bytes_is_refused_and_nothing_is_left(settings, project, owner,
                                                                                      make_s3_integration,
                                                                                      large_bucket, tmp_path,
                                                                                      monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    settings.DATASET_STREAM_MAX_BYTES = 50_000
    dataset = register(project, owner, make_s3_integration(), f"s3://{large_bucket}/big.parquet", "big")
    assert dataset.validity_status == ValidityStatus.INVALID
    assert "big.parquet is " in dataset.validity_message and "the limit is 48.8 KB" in dataset.validity_message
    assert list(tmp_path.iterdir()) == []        # the partial download and its folder are gone


def test_by_default_a_file_is_read_whole_only_up_to_256_mb_decoded():
    # With the former default (2048 MB) a 474 MB Parquet file and a 341 MB CSV were read whole: a 2.11 GB worker.
    env = {key: value for key, value in os.environ.items() if key != "DATASET_PARQUET_MAX_MEMORY_MB"}
    shown = subprocess.run([sys.executable, "-c", "from rime_web import settings; "
                            "print(settings.DATASET_PARQUET_MAX_MEMORY_MB)"], env=env, capture_output=True, text=True)
    assert shown.stdout.strip() == "256", shown.stderr
