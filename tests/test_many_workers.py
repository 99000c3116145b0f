"""Many workers without a shared disk (issue 18): two worker processes, each with its own RIME_VAR_DIR and started
from a folder of its own by deploy/run (the Procfile's worker line), share only PostgreSQL, the broker (Redis or
RabbitMQ), a Redis cache and an S3 server (moto). Runs are queued through the /v1 API; every run succeeds, once, both
workers take some, a workspace's single run does not wait behind another workspace's backlog, and a pinned
workspace's run is served only by the worker on its queue."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from stresstests.models import RunStatus, StressTestRun
from tests.conftest import ROOT, _wait_for_worker, _worker_env, require, wait_until
from tests.stresstests import data

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BROKERS = {
    # Database 14 of the machine's Redis: apart from CI's broker (15), so no other session's worker takes our messages.
    "redis": "redis://127.0.0.1:6379/14",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}
CACHE_URL = "redis://127.0.0.1:6379/13"
BACKLOG, SINGLE = 19, 1  # 20 runs from two workspaces
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


def _reachable(url: str) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
        return True
    except Exception:  # noqa: BLE001 - any failure means the service is not there
        return False


@pytest.fixture(params=sorted(BROKERS))
def broker_url(request, settings, monkeypatch):
    """This process (the web side) sends its messages to the chosen broker; the workers get it in their environment."""
    from rime_web.celery import app

    url = BROKERS[request.param]
    require(settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
            "needs PostgreSQL shared by the workers: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/rime")
    require(_reachable(BROKERS["redis"]), "needs Redis on 127.0.0.1:6379 (cache, and the Redis broker)")
    require(_reachable(url), f"needs {request.param} at {url}")
    with app.connection_for_write(url) as connection:  # messages of an earlier, aborted session must not run
        for queue in ("default", "stresstests", agent_queue()):
            try:
                connection.default_channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - a queue never declared has nothing to purge
                pass
    with _using_broker(app, url, monkeypatch):
        settings.CELERY_BROKER_URL, settings.CELERY_BROKER_FOLDER = url, None
        yield url
    with app.connection_for_write(url) as connection:  # the per-session agent queue is not left on the broker
        try:
            connection.default_channel.queue_delete(agent_queue())
        except Exception:  # noqa: BLE001 - Redis forgets an empty queue by itself
            pass


@contextmanager
def _using_broker(app, url: str, monkeypatch):
    """Points this process's Celery app at `url`, and afterwards leaves it exactly as it was, so later tests of the
    session still send to the session's broker. Celery lets CELERY_BROKER_URL (and _READ_/_WRITE_URL) in the
    environment win over app.conf.broker_url, as CI sets it: those are removed for the test (monkeypatch puts them
    back). The app keeps its connection and producer pools in kombu's registry (kombu.pools), keyed by connection
    parameters: the app is made to look its pools up again, and only the pools made for `url` are closed and dropped
    from the registry afterwards; the session's own pools stay open for whoever holds them."""
    from kombu import pools
    from kombu.utils.collections import eqhash

    changes = dict(app.conf.changes)
    own_pool, own_producers = app._pool, app.amqp._producer_pool
    own_key = eqhash(app.connection_for_write())
    test_key = None
    try:
        for name in ("CELERY_BROKER_URL", "CELERY_BROKER_READ_URL", "CELERY_BROKER_WRITE_URL"):
            monkeypatch.delenv(name, raising=False)
        app.conf.broker_url = url
        app.conf.broker_transport_options = {"visibility_timeout": 4 * 3600}  # the settings' value for a network broker
        app._pool, app.amqp._producer_pool = None, None
        test_key = eqhash(app.connection_for_write())
        if test_key == own_key:
            test_key = None  # the session's own pools: not to be closed
            pytest.fail(f"The session's own broker is {url}, which this test needs for its two workers alone")
        yield
    finally:
        app.conf.changes.clear()
        app.conf.changes.update(changes)
        app._pool, app.amqp._producer_pool = own_pool, own_producers
        for group in (pools.producers, pools.connections) if test_key else ():  # producers hold the connections
            pool = group.pop(test_key, None)
            if pool is not None:
                pool.force_close_all()


def test_the_switch_reaches_the_chosen_broker_and_leaves_the_sessions_celery_app_as_found(monkeypatch):
    """Whatever the session's broker (CI names one in CELERY_BROKER_URL), the app sends to the test's broker while
    switched; afterwards it has its own pool back, open, and kombu's registry still hands that pool out: later tests
    of the session send their tasks (not "RuntimeError: Acquire on closed pool")."""
    from kombu import pools
    from kombu.utils.collections import eqhash

    from rime_web.celery import app

    url = BROKERS["redis"]
    require(_reachable(url), f"needs Redis at {url}")
    session_url, own_pool = app.conf.broker_write_url, app.pool
    with _using_broker(app, url, monkeypatch):
        with app.pool.acquire(block=True, timeout=10) as connection:
            assert (connection.transport_cls, connection.port, connection.virtual_host) == ("redis", 6379, "14")
            assert app.pool is not own_pool
            connection.default_channel.queue_declare("switch-check", auto_delete=True)
        switched = app.connection_for_write()
    assert app.conf.broker_write_url == session_url
    assert app.pool is own_pool and pools.connections[app.connection_for_write()] is own_pool
    with app.pool.acquire(block=True, timeout=10) as connection:
        assert (connection.transport_cls, connection.virtual_host) != ("redis", "14")
    assert eqhash(switched) not in pools.connections and eqhash(switched) not in pools.producers


def agent_queue() -> str:
    return f"agent-test-{os.getpid()}"


@pytest.fixture
def s3_storage(settings):
    """The uploads live in a moto S3 bucket, for this process and (by environment) for the workers."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint, bucket = f"http://{host}:{port}", "rime-uploads"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    options = {"bucket_name": bucket, "endpoint_url": endpoint, "region_name": "us-east-1", "access_key": "testing",
               "secret_key": "testing", "addressing_style": "path", "location": "uploads", "file_overwrite": False}
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage",
                                                          "OPTIONS": options}}
    yield {"AWS_STORAGE_BUCKET_NAME": bucket, "AWS_S3_ENDPOINT_URL": endpoint, "AWS_S3_REGION_NAME": "us-east-1",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_LOCATION": "uploads"}
    server.stop()


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path, folder: Path) -> None:
        self.process, self.log, self.folder = process, log, folder

    def owns(self, identity: str) -> bool:
        """Whether `host:pid:start:pidns` on a run is this worker's main process or one of its pool processes."""
        host, pid = identity.split(":")[:2]
        if host != socket.gethostname():
            return False
        stat = Path(f"/proc/{pid}/stat")
        parent = int(stat.read_text().rsplit(")", 1)[1].split()[1]) if stat.exists() else None
        return self.process.pid in (int(pid), parent)

    def wait_ready(self) -> None:
        from rime_web.celery import app

        _wait_for_worker(app, self.process, self.log, timeout=120)

    def claimed(self) -> list[str]:
        return re.findall(r"Stress test ([0-9a-f-]{36}) claimed by", self.log.read_text(errors="replace"))


@pytest.fixture
def start_worker(settings, broker_url, s3_storage, tmp_path):
    """Starts `deploy/run worker` in a folder of its own with its own RIME_VAR_DIR; stops them all afterwards."""
    started: list[Worker] = []

    def start(name: str, queues: str) -> Worker:
        folder = tmp_path / name
        (folder / "var").mkdir(parents=True)
        env = _worker_env(settings)
        env.pop("CELERY_BROKER_FOLDER", None)
        env.update(s3_storage, CELERY_BROKER_URL=broker_url, REDIS_CACHE_URL=CACHE_URL, RIME_SHARED_DISK="false",
                   RIME_VAR_DIR=str(folder / "var"), RIME_WORKER_QUEUES=queues, RIME_WORKER_CONCURRENCY="1",
                   RIME_WORKER_NAME=f"{name}-{os.getpid()}")
        log = folder / "worker.log"
        with open(log, "wb") as out:
            process = subprocess.Popen([str(ROOT / "deploy" / "run"), "worker"], cwd=folder, env=env, stdout=out,
                                       stderr=subprocess.STDOUT)
        worker = Worker(process, log, folder)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.process.terminate()
    for worker in started:
        try:
            worker.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.process.kill()


def make_workspace(owner, name: str, *, queue: str = ""):
    from projects import services

    workspace = services.workspace_create(user=owner, name=name)
    if queue:
        workspace.celery_queue = queue
        workspace.save()
    _, key = services.api_key_create(user=owner, workspace=workspace, name="ci")
    project = services.project_create(user=owner, workspace=workspace, name=f"{name} fraud",
                                      model_task="MODEL_TASK_BINARY_CLASSIFICATION")
    return project, key


def register_through_api(client, project, key: str) -> dict:
    """A model and two datasets, uploaded through the API into the bucket."""
    ids = {}
    for role, frame in (("ref", data.frame(seed=1)), ("eval", data.frame(seed=2, shift=10))):
        response = client.post(f"/api/v1/projects/{project.id}/datasets", {
            "name": role, "file": SimpleUploadedFile(f"{role}.csv", data.csv_bytes(frame)),
            "data_params": f'{{"label_col": "{data.LABEL}"}}'}, HTTP_RIME_API_KEY=key)
        assert response.status_code == 201, response.content
        ids[role] = response.json()["datasetId"]
    response = client.post(f"/api/v1/projects/{project.id}/models", {"name": "scorer", "files": [
        SimpleUploadedFile("model.py", data.MODEL_PY.encode()),
        SimpleUploadedFile("weights.json", data.weights_json())]}, HTTP_RIME_API_KEY=key)
    assert response.status_code == 201, response.content
    ids["model"] = response.json()["modelId"]["uuid"]
    return ids


def start_runs(client, project, key: str, ids: dict, count: int) -> list[str]:
    """start_stress_test's wire format (rime-sdk 2.13.2): POST /v1/stress-tests/<project> {"testRunConfig": …}."""
    jobs = []
    for number in range(count):
        config = {"run_name": f"run {number}", "model_id": {"uuid": ids["model"]},
                  "data_info": {"ref_dataset_id": ids["ref"], "eval_dataset_id": ids["eval"]},
                  "categories": ["TEST_CATEGORY_TYPE_DRIFT"], "random_seed": number}
        response = client.post(f"/v1/stress-tests/{project.id}", {"testRunConfig": config},
                               content_type="application/json", HTTP_RIME_API_KEY=key)
        assert response.status_code == 201, response.content
        jobs.append(response.json()["job"]["jobId"])
    return jobs


def test_two_workers_without_a_shared_disk_share_the_runs_fairly(client, owner, start_worker, s3_storage):
    busy, busy_key = make_workspace(owner, "Busy")
    other, other_key = make_workspace(owner, "Other")
    pinned, pinned_key = make_workspace(owner, "Agent", queue=agent_queue())
    ids = {project.id: register_through_api(client, project, key)
           for project, key in ((busy, busy_key), (other, other_key), (pinned, pinned_key))}

    # Queued before any worker listens, so the backlog is there whatever the speed of the workers.
    backlog = start_runs(client, busy, busy_key, ids[busy.id], BACKLOG)
    single = start_runs(client, other, other_key, ids[other.id], SINGLE)
    pinned_job = start_runs(client, pinned, pinned_key, ids[pinned.id], 1)
    first = start_worker("first", "default,stresstests")
    second = start_worker("second", f"default,stresstests,{agent_queue()}")  # also the pinned workspace's agent
    first.wait_ready()
    second.wait_ready()

    runs = StressTestRun.objects.filter(job_id__in=[uuid.UUID(j) for j in backlog + single + pinned_job])
    wait_until(lambda: runs.filter(status__in=FINISHED).count() == BACKLOG + SINGLE + 1, timeout=600, interval=1.0,
               message="every run to finish")
    failed = {run.name: run.error for run in runs if run.status != RunStatus.SUCCEEDED}
    assert failed == {}

    # No run executed twice: each was claimed once, by one of the two workers, and the claims match the rows.
    claims = Counter(first.claimed() + second.claimed())
    assert sorted(claims) == sorted(str(run.id) for run in runs) and set(claims.values()) == {1}
    by_worker = Counter("first" if first.owns(run.worker) else "second" if second.owns(run.worker) else run.worker
                        for run in runs)
    assert set(by_worker) == {"first", "second"} and min(by_worker.values()) > 0, by_worker

    # Fairness: the other workspace's single run did not wait behind the busy workspace's backlog.
    last_of_backlog = max(run.finished_at for run in runs.filter(project=busy))
    assert runs.get(project=other).finished_at < last_of_backlog

    # The pinned workspace's run was served by the worker on its queue only.
    pinned_run = runs.get(project=pinned)
    assert second.owns(pinned_run.worker) and str(pinned_run.id) in second.claimed()

    # Nothing was written to a var folder of the web process or the other worker: the uploads are in the bucket.
    from projects.models import Dataset

    assert all(d.file.storage.__class__.__name__ == "S3Storage" for d in Dataset.objects.all())
    for worker in (first, second):
        assert not (worker.folder / "var" / "media").exists()
