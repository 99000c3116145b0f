"""Run a user's model (code from a stranger) in a child process: `SandboxedModel` is a ModelAdapter.

The child (`python -m stresstests.engine.sandbox_child`) calls `models.load_model` and answers predict requests.
It gets an empty environment plus a handful of harmless variables, a copy of the model files in a fresh folder named
after the worker process (so a successor can remove it if the worker is killed: sandbox_folders.py), and rlimits on
memory, CPU time, open files, file size (the disk limit) and core dumps. Every call and the load have a wall-clock
timeout. Where bubblewrap works (Debian's `/usr/bin/bwrap`) the child also runs with a read-only view of only the
system libraries, the Python install, the engine code and the model's files, a size-limited tmpfs at /tmp as the one
writable place (the model's folder is copied there), no network, its own PID/IPC/UTS namespaces and no capabilities:
nothing it writes reaches the server's disk. See docs/sandbox.md.

Rows go to the child as an Arrow IPC file and predictions come back as a `.npy` file without pickle, both through
memory files the worker opened before the child started (sandbox_exchange.py): the worker never opens a path the
sandboxed code could have replaced. Requests are JSON lines on the child's stdin and answers come on a separate pipe,
so the model's stdout/stderr only reach the log.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

import numpy as np
import pandas as pd

from stresstests.engine.errors import DataLoadError, EngineError, ModelLoadError, ModelOutputError
from stresstests.engine.models import validate_predictions
from stresstests.engine.sandbox_child import MODEL_FILES_ERROR
from stresstests.engine.sandbox_exchange import Exchange
from stresstests.engine.sandbox_folders import make_owned_folder

ISOLATION_BUBBLEWRAP = "bubblewrap"
ISOLATION_PROCESS = "process"
BWRAP = "/usr/bin/bwrap"
WRITABLE = Path("/tmp")  # inside bubblewrap: the size-limited tmpfs, HOME and TMPDIR
MODEL_COPY = WRITABLE / "model"  # inside bubblewrap: the model's folder, copied by the child into the tmpfs
MODEL_SOURCE = Path("/model")  # inside bubblewrap: the host copy of the model's files, read-only
SHARED_MEMORY_LIMIT_MB = 64  # /dev/shm inside bubblewrap: enough for the semaphores of multiprocessing
DEFAULT_DISK_LIMIT_MB = 1024
DEFAULT_MAX_PROCESSES = 64
NOBODY = "65534"

ENGINE_DIR = Path(__file__).resolve().parent
CODE_ROOT = ENGINE_DIR.parents[1]
# Read-only system files the interpreter and its libraries look at; the rest of /etc stays out of sight.
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd",
             "/etc/group", "/etc/nsswitch.conf")
# CPU work-arounds for old OpenBLAS builds: hardware facts, not secrets, and numpy may crash without them.
PASSED_THROUGH_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MAX_LOGGED_BYTES = 1_000_000
MAX_LOGGED_LINE = 2_000
# The child is stopped once it has written this much to stdout and stderr together: past the log budget its output
# is only read to be thrown away, and a model that floods it would keep a worker thread busy for nothing.
MAX_OUTPUT_BYTES = 10 * MAX_LOGGED_BYTES
READ_CHUNK = 65_536  # the most one read of the model's output holds in the worker's memory
MAX_RESPONSE_BYTES = 1_000_000

_logger = logging.getLogger(__name__)
LogFunction = Callable[[str], None]


@dataclass(frozen=True)
class SandboxLimits:
    memory_limit_mb: int = 4096
    cpu_seconds: int = 3600  # for the child's whole life: load plus every call
    wall_timeout_s: float = 60.0  # per predict call
    load_timeout_s: float = 120.0
    max_open_files: int = 256
    # Under bubblewrap: the size of the writable tmpfs (the model's copy, HOME, TMPDIR). Everywhere: the largest file
    # the child may write (RLIMIT_FSIZE), which is all that bounds the plain-process fallback.
    disk_limit_mb: int = DEFAULT_DISK_LIMIT_MB
    # Under bubblewrap: processes of the sandbox's user (nobody, in its own user namespace), bwrap's two included.
    # Each process the model forks gets the full memory and CPU limits of its own, so their number must be bounded.
    max_processes: int = DEFAULT_MAX_PROCESSES


@functools.lru_cache(maxsize=1)
def bubblewrap_available() -> bool:
    """Whether bwrap can create the namespaces we ask for here (it cannot in some containers)."""
    if not os.access(BWRAP, os.X_OK):
        return False
    # With the options the sandbox relies on: a bwrap older than 0.8 has no --size, and an unbounded tmpfs is no limit.
    probe = [BWRAP, "--unshare-all", "--unshare-user", "--disable-userns", "--uid", NOBODY, "--gid", NOBODY,
             "--ro-bind", "/", "/", "--dev", "/dev", "--size", str(1024**2), "--tmpfs", "/dev/shm", "--remount-ro",
             "/dev", "--size", str(1024**2), "--tmpfs", "/tmp", "--", "/bin/true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=20, env={}).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _apply_limits(limits: SandboxLimits, bubblewrap: bool = False) -> None:
    """Runs in the child between fork and exec; bwrap and the model inherit the limits.

    RLIMIT_NPROC counts the processes of the child's user. Under bubblewrap that is `nobody` in a user namespace of
    its own, so the count is the sandbox's alone (bwrap starts as the worker's user and is not limited by it). In
    the plain-process fallback the child runs as the worker's user, whose other processes would count too, so the
    limit is not set there (docs/sandbox.md)."""
    memory = limits.memory_limit_mb * 1024**2
    file_size = limits.disk_limit_mb * 1024**2
    _set_limit(resource.RLIMIT_AS, memory, memory)
    _set_limit(resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 5)
    _set_limit(resource.RLIMIT_NOFILE, limits.max_open_files, limits.max_open_files)
    _set_limit(resource.RLIMIT_FSIZE, file_size, file_size)
    _set_limit(resource.RLIMIT_CORE, 0, 0)
    if bubblewrap:
        _set_limit(resource.RLIMIT_NPROC, limits.max_processes, limits.max_processes)


def _set_limit(kind: int, soft: int, hard: int) -> None:
    """A limit never above the one the worker itself runs under (e.g. a worker started with `prlimit --as`): raising
    a hard limit is refused, and a stricter inherited limit is kept rather than the child failing to start."""
    inherited = resource.getrlimit(kind)[1]
    if inherited != resource.RLIM_INFINITY:
        soft, hard = min(soft, inherited), min(hard, inherited)
    resource.setrlimit(kind, (soft, hard))


def _skip_symlinks(folder: str, names: list[str]) -> list[str]:
    # Following a link planted in an upload would copy a file of the server into the sandbox.
    return [name for name in names if os.path.islink(os.path.join(folder, name))]


class SandboxedModel:
    """A model loaded and called only in a sandboxed child process. Use as a context manager, or call close()."""

    def __init__(self, path: str | os.PathLike, *, model_task: str, memory_limit_mb: int = 4096,
                 cpu_seconds: int = 3600, wall_timeout_s: float = 60.0, load_timeout_s: float = 120.0,
                 disk_limit_mb: int = DEFAULT_DISK_LIMIT_MB, max_processes: int = DEFAULT_MAX_PROCESSES,
                 log: LogFunction | None = None, isolation: str = "auto") -> None:
        self.model_task = model_task
        self.limits = SandboxLimits(memory_limit_mb=memory_limit_mb, cpu_seconds=cpu_seconds,
                                    wall_timeout_s=wall_timeout_s, load_timeout_s=load_timeout_s,
                                    disk_limit_mb=disk_limit_mb, max_processes=max_processes)
        self.isolation = _resolve_isolation(isolation)
        self._log = log if log is not None else _logger.info
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._response_fd: int | None = None
        self._buffer = b""
        self._exchange: Exchange | None = None
        self._failure: EngineError | None = None
        self._stop_reason: str | None = None  # set when we stop the child on purpose
        self._output = _ModelOutput(self._log, on_flood=self._stop_flooding)
        self._workdir = make_owned_folder()
        self._folder_model = False  # a model.py or a folder (copied so it can write next to its files), not one file
        self._embeddings = False  # the loaded model has `embed` (its ready message says so)
        try:
            self._start(self._copy_model(Path(path)))
            self._await_ready()
        except BaseException:
            self.close()
            raise

    # ---- public ------------------------------------------------------------------------------------------------
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        predictions = self._call("predict", frame)
        return validate_predictions(predictions, n_rows=len(frame), model_task=self.model_task)

    @property
    def embed(self) -> Callable[[pd.DataFrame], np.ndarray]:
        """The model's own embeddings, (n, d), when it has them (a Hugging Face model); otherwise there is no such
        attribute, so `hasattr(model, "embed")` tells, as for a model loaded in this process."""
        if not self._embeddings:
            raise AttributeError("this model has no embeddings")
        return self._embed

    def _embed(self, frame: pd.DataFrame) -> np.ndarray:
        return validate_embeddings(self._call("embed", frame), n_rows=len(frame))

    def _call(self, op: str, frame: pd.DataFrame) -> np.ndarray:
        with self._lock:
            if self._failure is not None:
                raise type(self._failure)(str(self._failure))
            assert self._exchange is not None
            try:
                self._request({"op": op, "rows_bytes": self._exchange.write_rows(frame)})
                answer = self._read_answer(self.limits.wall_timeout_s, loading=False)
                if not answer.get("ok"):
                    raise self._predict_error(answer)
                return self._exchange.read_predictions(answer.get("predictions_bytes"), n_rows=len(frame))
            finally:
                self._exchange.empty()

    def _predict_error(self, answer: dict) -> EngineError:
        error = self._child_error(answer, loading=False)
        if answer.get("kind") == "disk":  # its space stays full, so every later call would fail the same way
            self._stop_reason = "it filled its disk space"
            self._kill()
            return self._fail(error)
        return error

    def _stop_flooding(self) -> None:
        """Called from an output thread once the model has written far more than the log can hold."""
        self._stop_reason = self._stop_reason or (
            f"it wrote more than {MAX_OUTPUT_BYTES // 1_000_000} MB to its standard output and error (the log keeps "
            f"{MAX_LOGGED_BYTES // 1_000_000} MB). Print less, e.g. only a summary")
        self._kill()

    def cancel(self) -> None:
        """Stop the child now; safe from any thread. A predict call in progress raises ModelOutputError."""
        self._stop_reason = self._stop_reason or "the run was cancelled"
        self._kill()

    def close(self) -> None:
        self._stop_reason = self._stop_reason or "the sandbox was closed"
        self._kill()
        if self._process is not None:
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._output.join()
        with self._lock:
            if self._response_fd is not None:
                os.close(self._response_fd)
                self._response_fd = None
            if self._process is not None and self._process.stdin is not None:
                try:
                    self._process.stdin.close()
                except OSError:
                    pass
            if self._exchange is not None:
                self._exchange.close()
                self._exchange = None
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> SandboxedModel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- starting ----------------------------------------------------------------------------------------------
    def _copy_model(self, path: Path) -> Path:
        if not path.exists():
            raise ModelLoadError(f"Model path {path} does not exist.")
        model_folder = self._workdir / "model"
        self._folder_model = path.is_dir() or path.suffix == ".py"
        if path.is_dir():
            shutil.copytree(path, model_folder, ignore=_skip_symlinks)
            target = model_folder
        elif path.suffix == ".py":  # its artifacts and helper modules sit next to it
            shutil.copytree(path.parent, model_folder, ignore=_skip_symlinks)
            target = model_folder / path.name
        else:
            model_folder.mkdir()
            shutil.copyfile(path, model_folder / path.name)
            target = model_folder / path.name
        if self.isolation == ISOLATION_PROCESS:
            (self._workdir / "tmp").mkdir()
        return target

    def _inside(self, host_path: Path) -> Path:
        """The path the child sees for a file of the model's host copy."""
        if self.isolation == ISOLATION_BUBBLEWRAP:
            return MODEL_SOURCE / host_path.relative_to(self._workdir / "model")
        return host_path

    def _environment(self) -> dict[str, str]:
        bubblewrap = self.isolation == ISOLATION_BUBBLEWRAP
        home = WRITABLE if bubblewrap else self._workdir
        temporary = WRITABLE if bubblewrap else self._workdir / "tmp"
        environment = {
            "PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "PYTHONPATH": str(CODE_ROOT), "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1", "TMPDIR": str(temporary), "MPLCONFIGDIR": str(temporary),
            # One BLAS thread: the memory limit counts each thread's buffers, and workers share the cores.
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2",
            # Hugging Face libraries: never reach for a hub (there is no network inside anyway), keep their caches
            # in the writable space, and no tokenizer threads.
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HOME": str(temporary / "huggingface"), "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
        }
        for name in PASSED_THROUGH_VARIABLES:
            if name in os.environ:
                environment[name] = os.environ[name]
        return environment

    def _command(self, model_path: Path, fds: dict[str, int]) -> list[str]:
        child = [sys.executable, "-P", "-s", "-m", "stresstests.engine.sandbox_child", "--model", str(model_path),
                 "--model-task", self.model_task]
        for name, fd in fds.items():
            child += [f"--{name}-fd", str(fd)]
        if self.isolation == ISOLATION_PROCESS:
            return child
        if self._folder_model:
            child += ["--copy-to", str(MODEL_COPY)]
        return [BWRAP, *self._bubblewrap_arguments(), "--", *child]

    def _bubblewrap_arguments(self) -> list[str]:
        arguments = ["--unshare-all", "--unshare-user", "--disable-userns", "--uid", NOBODY, "--gid", NOBODY,
                     "--hostname", "sandbox", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv"]
        for name, value in self._environment().items():
            arguments += ["--setenv", name, value]
        # /dev is a tmpfs of bwrap's that the child could fill: only its small /dev/shm stays writable.
        arguments += ["--proc", "/proc", "--dev", "/dev", "--size", str(SHARED_MEMORY_LIMIT_MB * 1024**2),
                      "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
        # The sandbox's own /tmp, the one writable place, goes first: a later mount over /tmp would hide a virtualenv
        # or a checkout that lives under /tmp (CI clones there), and the child could not even start its interpreter.
        arguments += ["--size", str(self.limits.disk_limit_mb * 1024**2), "--tmpfs", str(WRITABLE),
                      "--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                arguments += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                arguments += ["--ro-bind", top, top]
        arguments += [part for name in ETC_FILES if os.path.exists(name) for part in ("--ro-bind", name, name)]
        for folder in _python_folders():
            arguments += ["--ro-bind", folder, folder]
        package_marker = str(CODE_ROOT / "stresstests" / "__init__.py")
        arguments += ["--ro-bind", package_marker, package_marker, "--ro-bind", str(ENGINE_DIR), str(ENGINE_DIR)]
        arguments += ["--ro-bind", str(self._workdir / "model"), str(MODEL_SOURCE), "--chdir", str(WRITABLE),
                      "--remount-ro", "/"]  # bwrap's own root is a writable tmpfs until this
        return arguments

    def _start(self, model_path: Path) -> None:
        self._exchange = Exchange()
        response_read, response_write = os.pipe()
        self._response_fd = response_read
        fds = {"response": response_write, "rows": self._exchange.rows_fd,
               "predictions": self._exchange.predictions_fd}
        try:
            self._process = subprocess.Popen(
                self._command(self._inside(model_path), fds), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self._environment(),
                cwd=model_path if model_path.is_dir() else model_path.parent,
                pass_fds=tuple(fds.values()), start_new_session=True,
                preexec_fn=functools.partial(_apply_limits, self.limits, self.isolation == ISOLATION_BUBBLEWRAP))
        finally:
            os.close(response_write)  # the child holds the only write end, so its death reads as EOF here
        self._output.follow(self._process)
        self._log(f"Model sandbox: {self.isolation} ({_ISOLATION_SUMMARY[self.isolation]}); limits "
                  f"{self.limits.memory_limit_mb} MB memory, {self.limits.cpu_seconds} s CPU, "
                  f"{self.limits.wall_timeout_s:g} s per call, {self.limits.disk_limit_mb} MB disk"
                  + (f", {self.limits.max_processes} processes." if self.isolation == ISOLATION_BUBBLEWRAP else "."))

    def _await_ready(self) -> None:
        answer = self._read_answer(self.limits.load_timeout_s, loading=True)
        if not answer.get("ok"):
            self._kill()
            raise self._child_error(answer, loading=True)
        self._embeddings = answer.get("embeddings") is True

    # ---- talking to the child ----------------------------------------------------------------------------------
    def _request(self, message: dict) -> None:
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write((json.dumps(message) + "\n").encode())
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._fail(self._death_error(loading=False)) from None

    def _read_answer(self, timeout_s: float, *, loading: bool) -> dict:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill()
                raise self._fail(_timeout_error(timeout_s, loading=loading))
            ready, _, _ = select.select([self._response_fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._response_fd, 65536)
            if not chunk:
                raise self._fail(self._death_error(loading=loading))
            self._buffer += chunk
            if len(self._buffer) > MAX_RESPONSE_BYTES:
                self._kill()
                raise self._fail(ModelOutputError("The model process sent an unreadable answer and was stopped."))
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            return json.loads(line)
        except ValueError:
            self._kill()
            raise self._fail(ModelOutputError("The model process sent an unreadable answer and was stopped.")) from None

    # ---- errors ------------------------------------------------------------------------------------------------
    def _fail(self, error: EngineError) -> EngineError:
        """Remember a fatal error: the child is gone, so later calls fail the same way at once."""
        self._failure = error
        return error

    def _child_error(self, answer: dict, *, loading: bool) -> EngineError:
        stage_error = ModelLoadError if loading else ModelOutputError
        doing = "loading" if loading else "predicting"
        message = str(answer.get("message", ""))
        if answer.get("kind") == "memory":
            return stage_error(f"The model used more than {self.limits.memory_limit_mb} MB of memory (the sandbox "
                               f"limit) while {doing}. Use less memory, e.g. score or load in smaller pieces. "
                               f"({message or 'MemoryError'})")
        if answer.get("kind") == "disk":
            return stage_error(self._disk_message(answer, doing))
        if answer.get("kind") == "engine":
            known = {"ModelLoadError": ModelLoadError, "ModelOutputError": ModelOutputError,
                     "DataLoadError": DataLoadError}
            return known.get(str(answer.get("error_class")), stage_error)(message)
        if loading:
            return ModelLoadError(f"Loading the model failed: {message}")
        return ModelOutputError(f"The model raised an error while predicting: {message}")

    def _disk_message(self, answer: dict, doing: str) -> str:
        limit = self.limits.disk_limit_mb
        if answer.get("error_class") == MODEL_FILES_ERROR:
            return (f"The model's files take more than the sandbox's {limit} MB of disk space, so it could not be "
                    "loaded. Make the model smaller, or raise the disk limit.")
        bubblewrap = self.isolation == ISOLATION_BUBBLEWRAP
        shared_memory = f"; /dev/shm holds {SHARED_MEMORY_LIMIT_MB} MB" if bubblewrap else ""
        return (f"The model wrote more than {limit} MB to its temporary folder (the sandbox's disk "
                f"limit{shared_memory}) while {doing}, so it was stopped. Write less, or raise the disk limit. "
                f"({answer.get('message') or 'stopped by the file size limit'})")

    def _death_error(self, *, loading: bool) -> EngineError:
        stage_error = ModelLoadError if loading else ModelOutputError
        if self._stop_reason is not None:
            return stage_error(f"The model was stopped because {self._stop_reason}.")
        exit_signal = self._exit_signal()
        self._output.join()  # its last words on stderr explain most deaths
        if exit_signal == signal.SIGXFSZ:
            return stage_error(self._disk_message({}, "loading" if loading else "predicting"))
        if exit_signal == signal.SIGXCPU:
            return stage_error(f"The model used more than {self.limits.cpu_seconds} s of CPU time (the sandbox "
                               "limit) and was stopped.")
        if exit_signal is not None:
            return stage_error(
                f"The model process was killed by {exit_signal.name} while {'loading' if loading else 'predicting'}. "
                f"This usually means it used more than {self.limits.memory_limit_mb} MB of memory (the sandbox "
                f"limit) or crashed in native code.{self._output.stderr_tail()}")
        code = self._process.returncode if self._process is not None else None
        return stage_error(f"The model process exited unexpectedly (exit code {code}) while "
                           f"{'loading' if loading else 'predicting'}.{self._output.stderr_tail()}")

    def _exit_signal(self) -> signal.Signals | None:
        if self._process is None:
            return None
        try:
            code = self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._kill()
            return None
        if code < 0:  # the child itself was killed
            number = -code
        elif self.isolation == ISOLATION_BUBBLEWRAP and code > 128:  # bwrap exits with 128 + its child's signal
            number = code - 128
        else:
            return None
        try:
            return signal.Signals(number)
        except ValueError:
            return None

    def _kill(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            # The child leads its own session: this takes any processes the model started along with it
            # (under bubblewrap, --die-with-parent and the PID namespace take the rest).
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


_ISOLATION_SUMMARY = {
    ISOLATION_BUBBLEWRAP: "read-only system, a size-limited /tmp as the only writable place, no network, own PID "
                          "namespace, empty environment",
    ISOLATION_PROCESS: "child process with an empty environment and resource limits; no filesystem or network "
                       "isolation (bubblewrap is not in use)",
}


def _resolve_isolation(requested: str) -> str:
    if requested == "auto":
        return ISOLATION_BUBBLEWRAP if bubblewrap_available() else ISOLATION_PROCESS
    if requested == ISOLATION_BUBBLEWRAP and not bubblewrap_available():
        raise ModelLoadError("The bubblewrap sandbox was required but bwrap does not work on this machine.")
    if requested not in (ISOLATION_BUBBLEWRAP, ISOLATION_PROCESS):
        raise ValueError(f"isolation must be 'auto', 'bubblewrap' or 'process', not {requested!r}")
    return requested


def _python_folders() -> list[str]:
    """The interpreter's install and the virtualenv, read-only, unless /usr already holds them."""
    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(sys.executable).resolve().parents[1])}
    return sorted(folder for folder in folders if not folder.startswith("/usr/"))


def validate_embeddings(embeddings: np.ndarray, *, n_rows: int) -> np.ndarray:
    """The child's embeddings, checked: one finite row of numbers per input row."""
    if embeddings.ndim != 2 or embeddings.shape[0] != n_rows or embeddings.dtype.kind not in "fiu":
        raise ModelOutputError(f"The model returned embeddings of shape {embeddings.shape} ({embeddings.dtype}) for "
                               f"{n_rows} rows; expected one row of numbers per input row.")
    array = embeddings.astype(float)
    if not np.isfinite(array).all():
        raise ModelOutputError("The model returned NaN or infinite embeddings.")
    return array


def _timeout_error(timeout_s: float, *, loading: bool) -> EngineError:
    if loading:
        return ModelLoadError(f"The model did not finish loading within {timeout_s:g} s, so it was stopped.")
    return ModelOutputError(f"The model did not answer within {timeout_s:g} s, so it was stopped. Make predict "
                            "faster, or raise the time limit.")


class _ModelOutput:
    """Forwards the child's stdout and stderr to the run log, line by line, up to a budget.

    Reads are bounded (READ_CHUNK): a line longer than that is logged by its start and the rest is discarded up to
    the next newline, so a model writing gigabytes without a newline costs the worker no memory. Once the child has
    written MAX_OUTPUT_BYTES in all, `on_flood` is called (once) to stop it.
    """

    def __init__(self, log: LogFunction, on_flood: Callable[[], None] | None = None) -> None:
        self._log = log
        self._on_flood = on_flood
        self._threads: list[threading.Thread] = []
        self._budget = MAX_LOGGED_BYTES
        self._budget_lock = threading.Lock()
        self._written = 0
        self._flooded = False
        self._stderr_lines: deque[str] = deque(maxlen=5)

    def follow(self, process: subprocess.Popen) -> None:
        for stream, label in ((process.stdout, "stdout"), (process.stderr, "stderr")):
            thread = threading.Thread(target=self._pump, args=(stream, label), daemon=True,
                                      name=f"sandbox-{label}")
            thread.start()
            self._threads.append(thread)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=2)

    def stderr_tail(self) -> str:
        if not self._stderr_lines:
            return ""
        return " Its last output: " + " | ".join(self._stderr_lines)

    def _pump(self, stream: IO[bytes] | None, label: str) -> None:
        if stream is None:
            return
        in_long_line = False  # inside a line longer than READ_CHUNK whose start was already logged
        for raw in iter(functools.partial(stream.readline, READ_CHUNK), b""):
            self._count(len(raw))
            complete = raw.endswith(b"\n")
            if in_long_line:
                in_long_line = not complete
                continue
            in_long_line = not complete
            line = raw.decode("utf-8", errors="replace").rstrip()[:MAX_LOGGED_LINE]
            if label == "stderr" and line:
                self._stderr_lines.append(line)
            if self._spend(len(line)):
                self._log(f"[model {label}] {line}")
        stream.close()

    def _count(self, size: int) -> None:
        with self._budget_lock:
            self._written += size
            if self._written <= MAX_OUTPUT_BYTES or self._flooded:
                return
            self._flooded = True
        self._log(f"[model output] the model wrote more than {MAX_OUTPUT_BYTES // 1_000_000} MB to its stdout and "
                  "stderr, so it was stopped.")
        if self._on_flood is not None:
            self._on_flood()

    def _spend(self, size: int) -> bool:
        with self._budget_lock:
            if self._budget <= 0:
                return False
            self._budget -= size
            if self._budget <= 0:
                self._log("[model output] further output from the model is not logged (over 1 MB).")
                return False
            return True
