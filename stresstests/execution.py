"""The worker side of a stress test: claim the queued run, run the engine on its data and model in the sandbox, write
progress and heartbeats while it runs, then the report or the reason it stopped.

`run_execute` is the Celery task's body; it also runs without Celery (tests, a shell).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from stresstests.engine.config import DataParams
from stresstests.engine.errors import DataLoadError, EngineError
from stresstests.engine.sandbox_folders import owned_temporary_folder, pid_namespace, process_start_ticks

from . import dispatch, run_data
from .failures import RunCancelled, RunTimedOut, failure_message, text_for_database
from .models import RunStatus, StressTestReport, StressTestRun
from .run_config import parse_run_config, time_limits_from_config

logger = logging.getLogger(__name__)

# How often the worker writes progress (and reads the cancel flag) at most, and how often it beats its heart.
PROGRESS_WRITE_INTERVAL_S = 0.5
HEARTBEAT_INTERVAL_S = 5.0
MAX_LOG_CHARS = 200_000


def worker_identity() -> str:
    """Written on the run when claimed: the host and the process that runs it (the pool child under prefork), as
    `host:pid:start:pidns` - the PID, its start time (clock ticks since boot) and the PID namespace. recovery.py reads
    it back to tell whether that process is gone; the namespace tells a PID of another container with the same
    hostname (which this process cannot see) from a PID of ours, the start time a reused PID from the original."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{process_start_ticks(pid) or 0}:{pid_namespace()}"[:200]


def run_claim(run_id) -> bool:
    """Only one worker runs a run: the conditional update succeeds once, for a run that is still queued."""
    now = timezone.now()
    return bool(StressTestRun.objects.filter(id=run_id, status=RunStatus.REQUESTED, cancel_requested=False).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker_identity()
    ))


def run_execute_next(run_id, *, queue: str | None = None) -> None:
    """The task's body: the message of run `run_id`, sent to `queue`, claims the fairest queued run of that queue and
    runs it (stresstests/dispatch.py); nothing when no run of that queue is waiting any more. A message without its
    queue (sent before messages named it) serves the queue of its run."""
    if queue is None:
        woken_by = StressTestRun.objects.select_related("project__workspace").filter(id=run_id).first()
        if woken_by is None:
            logger.info("Stress test %s no longer exists; its message is dropped.", run_id)
            return
        queue = dispatch.run_queue_name(woken_by)
    for candidate in dispatch.fair_candidates(queue):
        if run_claim(candidate):
            _execute_claimed(candidate)
            return
    logger.info("No queued stress test left on queue %s (woken by %s); nothing to do.", queue, run_id)


def run_execute(run_id) -> None:
    """Claims the run, runs the engine on its data and model, writes progress, log, report and summary."""
    if not run_claim(run_id):
        logger.info("Stress test %s is not queued any more (cancelled or taken); skipped.", run_id)
        return
    _execute_claimed(run_id)


def _execute_claimed(run_id) -> None:
    logger.info("Stress test %s claimed by %s", run_id, worker_identity())
    run = StressTestRun.objects.select_related(
        "project", "model", "reference_dataset", "evaluation_dataset", "reference_predictions", "evaluation_predictions"
    ).get(id=run_id)
    execution = Execution(run)
    try:
        with execution.heartbeat():
            report = execution.run_engine()
    except BaseException as error:  # noqa: BLE001 - every way out is written on the row
        execution.finish_with_error(error)
        if not isinstance(error, Exception):
            raise
        return
    execution.finish(report)


class Execution:
    """One run on a worker: progress throttling, cancel checks, heartbeat, the model's log, the final write."""

    def __init__(self, run: StressTestRun) -> None:
        self.run = run
        self.limits = time_limits_from_config(run.config)  # the server's, or shorter ones the run asked for
        self.deadline = time.monotonic() + self.limits.soft_s
        self.hard_deadline = time.monotonic() + self.limits.hard_s
        self.cancel_seen = threading.Event()
        self.timed_out = threading.Event()
        self.model = None
        self._log_lock = threading.Lock()
        self._log_lines: list[str] = []
        self._last_write = 0.0
        self._started = time.monotonic()

    # -- the model's output and our own notes, shown on the run page
    def log(self, line: str) -> None:
        with self._log_lock:
            self._log_lines.append(text_for_database(line.rstrip("\n")))

    def step(self, line: str) -> None:
        """A step of the run in the log, with the time since the worker took the run (e.g. "[01:05] Drift: ...")."""
        minutes, seconds = divmod(int(time.monotonic() - self._started), 60)
        self.log(f"[{minutes:02d}:{seconds:02d}] {line}")

    def log_text(self) -> str:
        with self._log_lock:
            text = "\n".join(self._log_lines)
        return text if len(text) <= MAX_LOG_CHARS else "[earlier lines cut]\n" + text[-MAX_LOG_CHARS:]

    def _running(self):
        return StressTestRun.objects.filter(id=self.run.id, status=RunStatus.RUNNING)

    # -- progress, called by the engine between steps
    def progress(self, fraction: float, current: str) -> None:
        if self.cancel_seen.is_set():
            raise RunCancelled()
        if time.monotonic() > self.deadline:
            raise RunTimedOut()
        now = time.monotonic()
        if now - self._last_write < PROGRESS_WRITE_INTERVAL_S and fraction < 1.0:
            return
        self._last_write = now
        self._running().update(progress=max(0.0, min(fraction, 1.0)), current_test=text_for_database(current[:200]),
                               heartbeat_at=timezone.now(), log=self.log_text())
        if StressTestRun.objects.filter(id=self.run.id, cancel_requested=True).exists():
            self.cancel_seen.set()
            raise RunCancelled()

    # -- a thread that proves the worker is alive during long tests and stops the model on cancel or timeout
    def heartbeat(self):
        return _Heartbeat(self)

    def beat(self) -> None:
        still_ours = self._running().update(heartbeat_at=timezone.now())
        # Not running any more (the reaper failed it, or it was cancelled): stop working for nobody.
        cancelled = not still_ours or StressTestRun.objects.filter(id=self.run.id, cancel_requested=True).exists()
        late = time.monotonic() > self.deadline
        if late:
            self.timed_out.set()
        if cancelled:
            self.cancel_seen.set()
        if (cancelled or late) and self.model is not None:
            self.model.cancel()
        if time.monotonic() > self.hard_deadline:  # the engine did not stop at the soft limit: give up on it
            self._running().update(status=RunStatus.FAILED, current_test="", finished_at=timezone.now(),
                                   error=failure_message(RunTimedOut(), limit_s=self.limits.soft_s))

    # -- the engine
    def run_engine(self) -> dict:
        from projects.registries.sources import load_dataset_frame, materialize_model, note_run_data
        from stresstests.engine.runner import run_stress_test, sample_seed
        from stresstests.engine.sandbox import SandboxedModel

        run = self.run
        run_config, protected = parse_run_config(run.config)
        self._announce("Loading the reference and evaluation data")
        # A file too large for memory is streamed and sampled while read, with the seed and size the engine uses.
        keep = run_config.sampling.nrows or run_config.sampling.max_rows
        reference, evaluation = run_data.aligned_frames(
            load_dataset_frame(run.reference_dataset, seed=sample_seed(run_config.random_seed, "reference"),
                               sample_rows=keep),
            load_dataset_frame(run.evaluation_dataset, seed=sample_seed(run_config.random_seed, "evaluation"),
                               sample_rows=keep),
            reference_params=run.reference_dataset.data_params, evaluation_params=run.evaluation_dataset.data_params,
            run_params=run_data.run_level_params(run.config),
        )
        data_params = self._data_params(protected)
        task = run.project.model_task
        predictions = {role: self._predictions(role, frame, task)
                       for role, frame in (("reference", reference), ("evaluation", evaluation))}
        with owned_temporary_folder("run") as folder:  # removed by a successor if this worker is killed
            model_path = materialize_model(run.model, folder) if run.model else None
            note_run_data(model_path, {"text_features": data_params.text_features,
                                       "class_names": data_params.class_names})
            if model_path:
                self._announce("Starting the model in its sandbox")
            self.model = SandboxedModel(model_path, model_task=task, log=self.log,
                                        disk_limit_mb=settings.STRESS_TEST_SANDBOX_DISK_MB,
                                        max_processes=settings.STRESS_TEST_SANDBOX_MAX_PROCESSES) if model_path else None
            try:
                return run_stress_test(
                    reference=reference, evaluation=evaluation, config=run_config, data_params=data_params,
                    model_task=task, model=self.model, progress=self.progress,
                    reference_predictions=predictions["reference"], evaluation_predictions=predictions["evaluation"],
                    log=self.step,
                )
            finally:
                if self.model is not None:
                    self.model.close()

    def _announce(self, step: str) -> None:
        self.step(step)
        self.progress(0.0, step)

    def _data_params(self, protected: list[str]) -> DataParams:
        run_params = run_data.run_level_params(self.run.config)
        run_params["protected_features"] = [*run_params.get("protected_features", []), *protected]
        return DataParams.from_dict(run_data.merged_data_params(
            self.run.reference_dataset.data_params, self.run.evaluation_dataset.data_params, run_params))

    def _predictions(self, role: str, frame, task: str):
        from projects.registries.sources import load_predictions_frame
        from stresstests.engine.data import predictions_from_frame
        from stresstests.engine.data_stream import predictions_refused

        predictions = getattr(self.run, f"{role}_predictions")
        if predictions is None:
            return None
        refused = predictions_refused(role, frame)
        if refused:
            raise DataLoadError(refused)
        table = load_predictions_frame(predictions)
        if len(table) != len(frame):
            raise DataLoadError(f"The {role} predictions have {len(table)} rows but the {role} dataset has "
                                f"{len(frame)}; give one prediction per row, in the dataset's order.")
        pred_col = (predictions.pred_params or {}).get("pred_col")
        columns = [pred_col] if pred_col else list(table.columns)
        return predictions_from_frame(table, columns, task)

    # -- the end
    def finish(self, report: dict) -> None:
        counts = (report.get("run") or {}).get("severity_counts") or {}
        self.step("Report written: " + ", ".join(f"{counts.get(key, 0)} {key}" for key in
                                                   ("alert", "warning", "pass", "skipped", "error")))
        with transaction.atomic():
            if not self._running().exists():
                return  # the reaper or a cancel got there first
            StressTestReport.objects.update_or_create(
                run_id=self.run.id, defaults={"data": report, "schema_version": report.get("schema_version", 1)}
            )
            self._running().update(status=RunStatus.SUCCEEDED, progress=1.0, current_test="", summary=counts,
                                   finished_at=timezone.now(), heartbeat_at=timezone.now(), log=self.log_text())

    def finish_with_error(self, error: BaseException) -> None:
        cancelled = self.cancel_seen.is_set() or isinstance(error, RunCancelled) or StressTestRun.objects.filter(
            id=self.run.id, cancel_requested=True).exists()
        if cancelled:
            status, message = RunStatus.CANCELLED, ""
            self.log("Cancelled by a user.")
        else:
            status, message = RunStatus.FAILED, failure_message(error, timed_out=self.timed_out.is_set(),
                                                                limit_s=self.limits.soft_s)
            if not isinstance(error, EngineError):
                logger.exception("Stress test %s failed", self.run.id, exc_info=error)
                self.log("".join(traceback.format_exception_only(type(error), error)).strip())
        self._running().update(status=status, error=text_for_database(message), current_test="",
                               finished_at=timezone.now(), heartbeat_at=timezone.now(), log=self.log_text())


class _Heartbeat:
    """Runs Execution.beat() every HEARTBEAT_INTERVAL_S on its own thread (and database connection)."""

    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"heartbeat-{execution.run.id}", daemon=True)

    def _loop(self) -> None:
        try:
            while not self.stop.wait(HEARTBEAT_INTERVAL_S):
                try:
                    self.execution.beat()
                except Exception:  # noqa: BLE001 - a missed beat must not kill the run; the next one retries
                    logger.warning("Heartbeat of run %s failed", self.execution.run.id, exc_info=True)
        finally:
            connection.close()

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join(timeout=HEARTBEAT_INTERVAL_S * 2)
