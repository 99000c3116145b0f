"""Benchmark: runs per minute of the fraud example on N workers without a shared disk (docs/deploy.md).

The layout of a multi-machine deployment on one machine: a throwaway PostgreSQL database, Redis as broker and cache, a
local S3 server (moto) holding the uploads, and N workers started with `deploy/run worker` (the Procfile's line), each
in a folder of its own with its own RIME_VAR_DIR and RIME_SHARED_DISK=false. The fraud example (RIME_SHARED_DIR's
data/fraud: 10,000 reference and 29,000 evaluation rows, CatBoost behind examples/fraud/model.py, country protected,
every category of the project's default configuration) is registered once; R runs are queued at once, as the API's
start_stress_test does (services.run_start_from_config). The figure is R divided by the minutes from the queueing of
the first run to the end of the last.

Run: RIME_SHARED_DIR=/work/shared .venv/bin/python benchmarks/bench_workers.py [--workers 2] [--runs 8]
       [--concurrency 1] [--database-url postgres://postgres@127.0.0.1:5432/rime_bench_workers]
       [--broker redis://127.0.0.1:6379/12]
The database named in --database-url is dropped and created again.

Measured 2026-12-03 on this machine (2 cores shared with other sessions, load average 7-9), 10 runs each of
8 categories / 73 tests / 53,449 rows scored, concurrency 1 per worker:
  2 workers, Redis     12.9 and 14.3 runs per minute (42-47 s for 10 runs; one run 6.6-7.7 s median)
  2 workers, RabbitMQ  17.4 runs per minute (34.5 s)
  1 worker,  Redis      9.4 runs per minute (64 s)
On 2 busy cores the second worker adds about half of the first one's rate; the figures swing with the machine's load.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
FRAUD = Path(os.environ.get("RIME_SHARED_DIR", ROOT.parent / "shared")) / "data" / "fraud"
CACHE_URL = "redis://127.0.0.1:6379/11"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1, help="runs at once per worker")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/rime_bench_workers")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for every run")
    return parser.parse_args()


def fresh_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def start_s3() -> tuple[object, dict[str, str]]:
    import logging

    import boto3

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_STORAGE_BUCKET_NAME": "rime-bench", "AWS_S3_ENDPOINT_URL": f"http://{host}:{port}",
           "AWS_S3_REGION_NAME": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_LOCATION": "uploads"}
    boto3.client("s3", endpoint_url=env["AWS_S3_ENDPOINT_URL"], region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket="rime-bench")
    return server, env


def register_fraud_example():
    """A user, a workspace, a project, the CatBoost model and the two datasets, uploaded into the bucket."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from django.contrib.auth import get_user_model
    from projects import services
    from projects.registries import services as registry

    def upload(path: Path) -> SimpleUploadedFile:
        return SimpleUploadedFile(path.name, path.read_bytes())

    user = get_user_model().objects.create_user(username="bench", password="bench-password-not-used")
    workspace = services.workspace_create(user=user, name="Bench")
    project = services.project_create(user=user, workspace=workspace, name="Fraud",
                                      model_task="MODEL_TASK_BINARY_CLASSIFICATION")
    model = registry.model_register(user=user, project=project, name="fraud", tags=[], source="upload", validate=False,
                                    files=[upload(ROOT / "examples" / "fraud" / "model.py"),
                                           upload(FRAUD / "fraud_model.catb")])
    reference = registry.dataset_register(user=user, project=project, name="reference", source="upload",
                                          validate=False, file=upload(FRAUD / "fraud_ref.csv"),
                                          data_params={"label_col": "label", "protected_features": ["country"]})
    evaluation = registry.dataset_register(user=user, project=project, name="evaluation", source="upload",
                                           validate=False, file=upload(FRAUD / "fraud_eval.csv"),
                                           data_params={"label_col": "label", "timestamp_col": "timestamp"})
    return user, project, {"model_id": str(model.id),
                           "data_info": {"ref_dataset_id": str(reference.id), "eval_dataset_id": str(evaluation.id)}}


def start_workers(count: int, concurrency: int, folder: Path) -> list[tuple[subprocess.Popen, Path]]:
    workers = []
    for number in range(count):
        home = folder / f"worker-{number + 1}"
        (home / "var").mkdir(parents=True)
        env = {**os.environ, "RIME_VAR_DIR": str(home / "var"), "RIME_WORKER_CONCURRENCY": str(concurrency),
               "RIME_WORKER_NAME": f"bench-{number + 1}"}
        log = home / "worker.log"
        with open(log, "wb") as out:
            workers.append((subprocess.Popen([str(ROOT / "deploy" / "run"), "worker"], cwd=home, env=env,
                                             stdout=out, stderr=subprocess.STDOUT), log))
    for process, log in workers:
        deadline = time.monotonic() + 180
        while b"ready." not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"A worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    return workers


def main() -> None:
    args = arguments()
    missing = [name for name in ("fraud_ref.csv", "fraud_eval.csv", "fraud_model.catb") if not (FRAUD / name).is_file()]
    if missing:
        sys.exit(f"The fraud example is not at {FRAUD} (missing {', '.join(missing)}): set RIME_SHARED_DIR.")
    fresh_database(args.database_url)
    s3, s3_env = start_s3()
    os.environ.update(s3_env, DATABASE_URL=args.database_url, CELERY_BROKER_URL=args.broker, REDIS_CACHE_URL=CACHE_URL,
                      RIME_SHARED_DISK="false", DJANGO_SETTINGS_MODULE="rime_web.settings")
    os.environ.pop("CELERY_BROKER_FOLDER", None)
    local_env = ROOT / "var" / "local.env"  # the checkout's generated secrets; every process of the bench shares them
    if local_env.exists():
        import environ

        environ.Env.read_env(str(local_env), overwrite=False)
    folder = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    os.environ["RIME_VAR_DIR"] = str(folder / "web-var")  # the benchmark is the web side: a var folder of its own
    import django

    django.setup()
    from django.core.management import call_command

    from rime_web.celery import app
    from stresstests import services
    from stresstests.models import RunStatus, StressTestRun

    call_command("migrate", verbosity=0)
    with app.connection_for_write() as connection:
        for queue in ("default", "stresstests"):
            try:
                connection.default_channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - never declared: nothing to purge
                pass
    user, project, config = register_fraud_example()
    workers = start_workers(args.workers, args.concurrency, folder)
    try:
        started = time.monotonic()
        for number in range(args.runs):
            services.run_start_from_config(user=user, project=project,
                                           test_run_config={**config, "run_name": f"bench {number + 1}"})
        finished = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
        while StressTestRun.objects.filter(status__in=finished).count() < args.runs:
            if time.monotonic() - started > args.timeout:
                sys.exit(f"Not every run finished within {args.timeout:.0f} s.")
            time.sleep(1.0)
        elapsed = time.monotonic() - started
        runs = list(StressTestRun.objects.exclude(status=RunStatus.DRAFT))
    finally:
        for process, _ in workers:
            process.terminate()
        for process, _ in workers:
            process.wait(timeout=60)
        s3.stop()
    failed = [f"{run.name}: {run.error}" for run in runs if run.status != RunStatus.SUCCEEDED]
    durations = [(run.finished_at - run.started_at).total_seconds() for run in runs if run.started_at]
    per_worker: dict[str, int] = {}
    for run in runs:
        per_worker[run.worker] = per_worker.get(run.worker, 0) + 1
    print(f"== fraud example on {args.workers} workers (concurrency {args.concurrency}), {args.runs} runs, "
          f"broker {args.broker.split(':')[0]}")
    print(f"succeeded: {args.runs - len(failed)} of {args.runs}" + "".join(f"\n  failed {line}" for line in failed))
    print(f"wall time from the first queueing to the last end: {elapsed:.1f} s")
    print(f"one run, start to end: median {statistics.median(durations):.1f} s, max {max(durations):.1f} s")
    print(f"runs per worker process: {sorted(per_worker.values())}")
    report = next((run.report.data for run in runs if run.status == RunStatus.SUCCEEDED), None)
    if report:
        tests = [test for category in report["categories"] for test in category["tests"]]
        print(f"each run: {len(report['categories'])} categories, {len(tests)} tests, "
              f"{report['run']['model_calls']['rows_scored']} rows scored by the model")
    print(f"machine load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"RUNS PER MINUTE: {args.runs / (elapsed / 60):.2f}")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
