"""Benchmark (issue 18, Done-when 3): a Parquet evaluation file of about 3 GB on an S3 server (moto, started here),
registered as an s3:// dataset and stress-tested by a real Celery worker whose address space is held to 1 GB.

What it does: makes (or reuses, cached in var/benchmarks/) the Parquet file, starts moto's server on loopback and
uploads the file; sets up its own SQLite database, media and filesystem broker under var/bench-stream/ (nothing of the
developer's var/ is touched); starts `celery worker --pool=solo` with RLIMIT_AS = --memory-mb (inherited by the model's
sandbox child); registers a model, a small reference dataset and the S3 evaluation dataset (validated by the worker),
runs a stress test and waits for it. The worker's memory is sampled from /proc every 0.1 s (its own RSS, and the sum
over it and its children); at the end its VmHWM (the kernel's peak RSS) is read too.

Printed: the file's size and rows; the wall time of validating the evaluation dataset and of the run; peak memory;
the report's sampling (rows read, rows kept, how). The worker reads the S3 object by one streamed GET into its
temporary folder (disk, bounded by DATASET_STREAM_MAX_BYTES) and decodes it in record batches of
DATASET_STREAM_BATCH_ROWS rows (stresstests/engine/data_stream.py).

Run: .venv/bin/python benchmarks/bench_stream.py [--gigabytes 3] [--memory-mb 1024] [--no-cache]
  --no-cache  delete the generated file when done (it is kept in var/benchmarks/ for the next run otherwise)
Disk: the cached file, moto's copy (its temporary folder) and the worker's download: about 3 x the file's size.
moto's server itself holds an uploaded object in memory while completing the upload (its own limit, not rime_web's).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "benchmarks"
BENCH_VAR = ROOT / "var" / "bench-stream"
NUMERIC = 12
GROUP_ROWS = 1_000_000
BYTES_PER_ROW = NUMERIC * 8 + 1   # float64 features (random: incompressible) and a one-byte label
CATEGORIES = ["TEST_CATEGORY_TYPE_MODEL_PERFORMANCE", "TEST_CATEGORY_TYPE_DRIFT", "TEST_CATEGORY_TYPE_DATA_CLEANLINESS"]
MODEL_PY = '''
import numpy as np


def predict_df(df):
    score = df["x0"].to_numpy(dtype=float) + 0.5 * df["x1"].to_numpy(dtype=float) - 0.5 * df["x2"].to_numpy(dtype=float)
    return 1.0 / (1.0 + np.exp(-score))
'''


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gigabytes", type=float, default=3.0, help="size of the evaluation file (default 3)")
    parser.add_argument("--memory-mb", type=int, default=1024, help="the worker's RLIMIT_AS (default 1024)")
    parser.add_argument("--no-cache", action="store_true", help="delete the generated file when done")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the run")
    return parser.parse_args()


# --- the data ---------------------------------------------------------------------------------------------------------
def batch(rows: int, seed: int):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    features = {f"x{i}": rng.standard_normal(rows) for i in range(NUMERIC)}
    score = features["x0"] + 0.5 * features["x1"] - 0.5 * features["x2"]
    label = (rng.random(rows) < 1 / (1 + np.exp(-score))).astype(np.int8)
    return pa.table({**features, "label": label})


def evaluation_file(gigabytes: float) -> Path:
    import pyarrow.parquet as pq

    groups = max(1, round(gigabytes * 1024**3 / BYTES_PER_ROW / GROUP_ROWS))
    path = CACHE / f"stream-eval-{groups}x{GROUP_ROWS}.parquet"
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == groups * GROUP_ROWS:
        print(f"reusing {path} ({path.stat().st_size / 1024**3:.2f} GB)")
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    started = time.perf_counter()
    first = batch(GROUP_ROWS, 0)
    with pq.ParquetWriter(partial, first.schema, compression="snappy") as writer:
        writer.write_table(first, row_group_size=GROUP_ROWS)
        for index in range(1, groups):
            writer.write_table(batch(GROUP_ROWS, index), row_group_size=GROUP_ROWS)
    partial.rename(path)
    print(f"generated {path} ({path.stat().st_size / 1024**3:.2f} GB, {groups * GROUP_ROWS:,} rows) in "
          f"{time.perf_counter() - started:.0f} s")
    return path


# --- the worker and its memory ------------------------------------------------------------------------------------------
def environment(memory_mb: int) -> dict:
    env = {**os.environ, "RIME_VAR_DIR": str(BENCH_VAR), "DJANGO_SETTINGS_MODULE": "rime_web.settings",
           "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1", "CELERY_BROKER_URL": "filesystem://",
           "CELERY_BROKER_FOLDER": str(BENCH_VAR / "broker"),
           # A worker sized for 1 GB: read whole below 256 MB decoded, streamed above.
           "DATASET_PARQUET_MAX_MEMORY_MB": str(max(memory_mb // 4, 16)),
           # Fewer address-space reservations (glibc arenas, BLAS threads): RLIMIT_AS counts reserved, not used.
           "MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("DATABASE_URL", None)
    for line in (ROOT / "var" / "local.env").read_text().splitlines() if (ROOT / "var" / "local.env").exists() else []:
        key, _, value = line.partition("=")
        if key in ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEYS") and key not in os.environ:
            env[key] = value
    return env


def start_worker(env: dict, memory_mb: int, log_path: Path) -> subprocess.Popen:
    limit = memory_mb * 1024**2

    def hold_memory():  # in the child, before exec: the worker and everything it starts
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "rime_web", "worker", "-l", "info", "--pool=solo",
             "-Q", "default,stresstests", "-n", f"bench-stream-{os.getpid()}@%h", "--without-heartbeat",
             "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=hold_memory)
    deadline = time.monotonic() + 120
    while b"ready." not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.3)
    return process


class MemoryWatch:
    """Peak RSS of a process and of it plus its descendants, sampled from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_self_kb, self.peak_tree_kb = pid, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.wait(0.1):
            tree = self._tree()
            sizes = {pid: _rss_kb(pid) for pid in tree}
            self.peak_self_kb = max(self.peak_self_kb, sizes.get(self.pid, 0))
            self.peak_tree_kb = max(self.peak_tree_kb, sum(sizes.values()))

    def _tree(self) -> set[int]:
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        tree, grew = {self.pid}, True
        while grew:
            grew = False
            for pid, parent in parents.items():
                if parent in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        return tree

    def high_water_kb(self) -> int:
        return _status_kb(self.pid, "VmHWM")

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_kb(pid: int) -> int:
    return _status_kb(pid, "VmRSS")


# --- the run ------------------------------------------------------------------------------------------------------------
def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    options = arguments()
    path = evaluation_file(options.gigabytes)
    shutil.rmtree(BENCH_VAR, ignore_errors=True)
    env = environment(options.memory_mb)
    os.environ.update({k: v for k, v in env.items() if k not in ("MALLOC_ARENA_MAX",)})
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    import boto3
    from botocore.config import Config
    from moto.server import ThreadedMotoServer

    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    from boto3.s3.transfer import TransferConfig

    # moto joins the parts of a multipart upload in memory, slowly: no retry (a retried CompleteMultipartUpload finds
    # the upload gone) and a long timeout.
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                          aws_secret_access_key="bench-secret",
                          config=Config(s3={"addressing_style": "path"}, read_timeout=1800,
                                        retries={"max_attempts": 1}))
    client.create_bucket(Bucket="lake")
    with_upload = time.perf_counter()
    client.upload_file(str(path), "lake", "eval/big.parquet",
                       Config=TransferConfig(multipart_chunksize=256 * 1024**2, max_concurrency=2))
    print(f"uploaded to moto in {time.perf_counter() - with_upload:.0f} s")

    worker = watch = None
    try:
        worker = start_worker(env, options.memory_mb, BENCH_VAR / "worker.log")
        watch = MemoryWatch(worker.pid)
        figures = run_benchmark(endpoint, path, options)
        figures["worker_vm_hwm_mb"] = watch.high_water_kb() / 1024
        figures["peak_rss_worker_mb"] = watch.peak_self_kb / 1024
        figures["peak_rss_worker_and_children_mb"] = watch.peak_tree_kb / 1024
    finally:
        if watch is not None:
            watch.close()
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        server.stop()
        if options.no_cache:
            path.unlink(missing_ok=True)
    print_figures(figures, options, path)


def run_benchmark(endpoint: str, path: Path, options) -> dict:
    import io

    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from projects import services as projects
    from projects.models import ValidityStatus
    from projects.registries import integrations, services as registry
    from stresstests import services
    from stresstests.models import RunStatus, StressTestReport

    user = get_user_model().objects.create_user(username="bench", password="bench-password-123")
    workspace = projects.workspace_create(user=user, name="Bench")
    project = projects.project_create(user=user, workspace=workspace, name="Streamed", description="",
                                      model_task="MODEL_TASK_BINARY_CLASSIFICATION")
    lake = integrations.integration_create(
        user=user, workspace=workspace, name="lake", integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY",
        config={"region": "us-east-1", "endpoint_url": endpoint},
        secrets={"access_key_id": "bench", "secret_access_key": "bench-secret"})
    reference_bytes = io.BytesIO()
    import pyarrow.parquet as pq

    pq.write_table(batch(50_000, 10_000), reference_bytes)
    model = registry.model_register(user=user, project=project, name="linear", tags=[], source="upload",
                                    files=[SimpleUploadedFile("model.py", MODEL_PY.encode())])
    reference = registry.dataset_register(user=user, project=project, name="reference", source="upload",
                                          data_params={"label_col": "label"},
                                          file=SimpleUploadedFile("reference.parquet", reference_bytes.getvalue()))
    started = time.perf_counter()
    evaluation = registry.dataset_register(user=user, project=project, name="evaluation", source="path",
                                           data_params={"label_col": "label"}, path="s3://lake/eval/big.parquet",
                                           integration=lake)
    for row in (model, reference, evaluation):
        wait_for(lambda row=row: _settled(row), options.timeout, f"validation of {row}")
        row.refresh_from_db()
        if row.validity_status != ValidityStatus.VALID:
            raise SystemExit(f"{row} is {row.validity_status}: {row.validity_message}")
    validated_s = time.perf_counter() - started

    run = services.run_create_draft(user=user, project=project)
    services.run_save_configuration(user=user, run=run, config_mode="custom", categories=CATEGORIES,
                                    name="streamed", random_seed=7)
    services.run_set_model(user=user, run=run, model=model)
    services.run_set_dataset(user=user, run=run, role="reference", dataset=reference)
    services.run_set_dataset(user=user, run=run, role="evaluation", dataset=evaluation)
    started = time.perf_counter()
    run = services.run_submit(user=user, run=run)
    done = wait_for(lambda: _finished(run), options.timeout, "the run")
    run_s = time.perf_counter() - started
    if done.status != RunStatus.SUCCEEDED:
        raise SystemExit(f"the run {done.status}: {done.error}\n{done.log[-3000:]}")
    report = StressTestReport.objects.get(run=done).data
    return {"validation_s": validated_s, "run_s": run_s, "evaluation": report["run"]["evaluation"],
            "reference": report["run"]["reference"], "evaluation_message": evaluation.validity_message,
            "severity_counts": report["run"]["severity_counts"], "row_count": evaluation.row_count}


def _settled(row):
    from projects.models import ValidityStatus

    row.refresh_from_db()
    return row.validity_status != ValidityStatus.PENDING


def _finished(run):
    from stresstests.models import RunStatus, StressTestRun

    run = StressTestRun.objects.get(id=run.id)
    return run if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED) else None


def print_figures(figures: dict, options, path: Path) -> None:
    evaluation = figures["evaluation"]
    print("== bench_stream: an S3 Parquet file larger than the worker's memory")
    print(f"evaluation file:                 {path.stat().st_size / 1024**3 if path.exists() else options.gigabytes:.2f}"
          f" GB, {figures['row_count']:,} rows (validated: {figures['evaluation_message']})")
    print(f"worker address space (RLIMIT_AS): {options.memory_mb} MB")
    print(f"validation (worker, all three):   {figures['validation_s']:.0f} s")
    print(f"stress test run (submit to done): {figures['run_s']:.0f} s ({', '.join(CATEGORIES)})")
    print(f"peak RSS of the worker:           {figures['peak_rss_worker_mb']:.0f} MB sampled, "
          f"{figures['worker_vm_hwm_mb']:.0f} MB VmHWM")
    print(f"peak RSS worker + children:       {figures['peak_rss_worker_and_children_mb']:.0f} MB (sampled every 0.1 s)")
    print(f"evaluation sampling:              {evaluation['sampled_rows']:,} of {evaluation['rows']:,} rows; "
          f"{evaluation['streamed']['description']}; at most {evaluation['streamed']['max_rows_held']:,} rows held")
    print(f"severity counts:                  {json.dumps(figures['severity_counts'])}")
    print(f"machine load average (1 min):     {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
