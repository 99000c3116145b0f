"""Issue 19: a hostile model may not redirect the worker's I/O, fill the disk, or leave folders behind.

Each attack below was first written against the folder exchange the sandbox used before (rows and predictions as named
files in a folder the model could write); the tests say which attack each one is.
"""

from __future__ import annotations

import io
import os
import stat
import textwrap
import threading
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from stresstests.engine.errors import EngineError, ModelLoadError, ModelOutputError
from stresstests.engine.sandbox import ISOLATION_BUBBLEWRAP, ISOLATION_PROCESS
from stresstests.engine.sandbox_folders import (
    folder_owner,
    make_owned_folder,
    pid_namespace,
    process_start_ticks,
    remove_stale_sandbox_folders,
)
from tests.engine.test_engine_sandbox import (
    BOTH_ISOLATIONS,
    ROWS,
    LogLines,
    require_bubblewrap,
    sandbox,
    training_rows,
    write_model,
)

PRECIOUS = "server data, not to be overwritten\n"
# The exchange folder of the old layout, seen from the model's working directory in both isolation modes.
OLD_EXCHANGE = 'os.path.join(os.getcwd(), "..", "io")'


def exchange_attack_model(folder: Path, plant: str) -> Path:
    """A model that, on its first call, runs `plant` (with `io` = the old exchange folder) to set up later calls."""
    return write_model(folder, f"""
        import os, shutil
        import numpy as np
        calls = []
        def predict_df(df):
            calls.append(1)
            if len(calls) == 1:
                io = {OLD_EXCHANGE}
                os.makedirs(io, exist_ok=True)
                {_indented(plant, 16)}
            return np.full(len(df), 0.5)
    """)


def _indented(code: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in textwrap.dedent(code).strip().splitlines()).lstrip()


def call_three_times(model) -> list[list[float]]:
    return [model.predict(ROWS).tolist() for _ in range(3)]


# ---- finding 1: the worker's I/O cannot be redirected ---------------------------------------------------------------
@pytest.mark.parametrize("isolation", BOTH_ISOLATIONS)
def test_symlinks_planted_for_the_rows_files_neither_overwrite_nor_create_server_files(tmp_path, isolation):
    """The reported attack: links in place of the next calls' row files, to an existing file and to a new one."""
    require_bubblewrap(isolation)
    victim, created = tmp_path / "victim.txt", tmp_path / "var" / "created.txt"
    victim.write_text(PRECIOUS)
    created.parent.mkdir()
    script = exchange_attack_model(tmp_path / "model", f"""
        for call in range(2, 12):
            os.symlink({str(victim)!r} if call % 2 else {str(created)!r}, os.path.join(io, f"rows-{{call}}.arrow"))
    """)
    with sandbox(script, isolation=isolation) as model:
        assert call_three_times(model) == [[0.5] * 3] * 3

    assert victim.read_text() == PRECIOUS
    assert not created.exists()


@pytest.mark.parametrize("isolation", BOTH_ISOLATIONS)
def test_the_exchange_folder_swapped_for_a_link_to_a_server_folder_receives_nothing(tmp_path, isolation):
    require_bubblewrap(isolation)
    server_folder = tmp_path / "media"
    server_folder.mkdir()
    # The worker used to delete each exchange file after the call, so the model looks while its call is running.
    script = write_model(tmp_path / "model", f"""
        import os, shutil
        import numpy as np
        calls = []
        def predict_df(df):
            calls.append(1)
            io = {OLD_EXCHANGE}
            if len(calls) == 1:
                shutil.rmtree(io, ignore_errors=True)
                os.symlink({str(server_folder)!r}, io)
                return np.full(len(df), 0.5)
            try:
                written = os.listdir({str(server_folder)!r})  # under bubblewrap the server folder is not visible
            except OSError:
                written = []
            return np.full(len(df), 1.0 if written else 0.5)
    """)
    with sandbox(script, isolation=isolation) as model:
        assert call_three_times(model) == [[0.5] * 3] * 3

    assert list(server_folder.iterdir()) == []


def test_a_hard_link_to_a_server_file_planted_for_the_rows_leaves_the_file_intact(tmp_path):
    # Only the plain process can see a server file to link to; under bubblewrap nothing of the server is visible.
    victim = tmp_path / "victim.txt"
    victim.write_text(PRECIOUS)
    script = exchange_attack_model(tmp_path / "model", f"""
        for call in range(2, 12):
            os.link({str(victim)!r}, os.path.join(io, f"rows-{{call}}.arrow"))
    """)
    with sandbox(script, isolation=ISOLATION_PROCESS) as model:
        assert call_three_times(model) == [[0.5] * 3] * 3

    assert victim.read_text() == PRECIOUS


@pytest.mark.parametrize("isolation", BOTH_ISOLATIONS)
def test_fifos_planted_for_the_exchange_files_do_not_block_the_worker(tmp_path, isolation):
    """Opening a FIFO blocks until the other end opens: a worker that opened one by name would hang for good."""
    require_bubblewrap(isolation)
    script = exchange_attack_model(tmp_path / "model", """
        for call in range(2, 12):
            os.mkfifo(os.path.join(io, f"rows-{call}.arrow"))
            os.mkfifo(os.path.join(io, f"predictions-{call}.npy"))
    """)
    outcome: list[object] = []

    def calls() -> None:
        try:
            outcome.append(call_three_times(model))
        except EngineError as error:
            outcome.append(error)

    with sandbox(script, isolation=isolation, wall_timeout_s=20) as model:
        caller = threading.Thread(target=calls, daemon=True)
        caller.start()
        caller.join(timeout=120)  # three calls within their 20 s timeouts, with room for a busy machine
        blocked = caller.is_alive()
        if blocked:  # give the blocked open() a reader, so the sandbox can still be closed
            for fifo in (path for path in model._workdir.rglob("*") if stat.S_ISFIFO(path.lstat().st_mode)):
                os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            model.cancel()
            caller.join(timeout=30)
    assert not blocked, "the worker was blocked on a FIFO the model planted"
    assert outcome == [[[0.5] * 3] * 3]


@pytest.mark.parametrize("isolation", BOTH_ISOLATIONS)
def test_a_model_thread_rewriting_the_predictions_file_during_the_read_gets_only_clear_errors(tmp_path, isolation):
    """The one thing the model can still touch is the contents of the memory files: the worker must not crash on them
    (a mapped file truncated under it is SIGBUS), hang, or fail with anything but a message for the user."""
    require_bubblewrap(isolation)
    script = write_model(tmp_path / "model", """
        import os, threading
        import numpy as np
        def descriptor(name):
            for fd in os.listdir("/proc/self/fd"):
                try:
                    if name in os.readlink(f"/proc/self/fd/{fd}"):
                        return int(fd)
                except OSError:
                    pass
        def scribble(fd):
            garbage = os.urandom(4096)
            while True:
                os.ftruncate(fd, 0)
                os.pwrite(fd, garbage[: len(garbage) // 2], 0)
        threading.Thread(target=scribble, args=(descriptor("rime-predictions"),), daemon=True).start()
        def predict_df(df):
            return np.full(len(df), 0.5)
    """)
    outcomes = []
    with sandbox(script, isolation=isolation) as model:
        for _ in range(5):
            try:
                outcomes.append(model.predict(ROWS).tolist())
            except ModelOutputError as error:
                outcomes.append(type(error).__name__)
    assert set(map(str, outcomes)) <= {"ModelOutputError", str([0.5] * 3)}, outcomes
    assert len(outcomes) == 5


def forged_npy(shape: tuple[int, ...]) -> bytes:
    """A valid .npy header naming `shape`, followed by only 24 bytes of data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return header.getvalue() + bytes(24)


FORGED_HEADER = forged_npy((10**12,))


@pytest.mark.parametrize(("forgery", "message"), [
    ("{'ok': True, 'predictions_bytes': 10**12}", "bytes of predictions for 3 rows"),
    ("{'ok': True, 'predictions_bytes': -1}", "returned no predictions"),
    (f"{{'ok': True, 'predictions_bytes': main.replace_contents(predictions_fd, {FORGED_HEADER!r})}}",
     "1000000000000 values for 3 rows"),
    ("{'ok': True, 'predictions_bytes': main.replace_contents(predictions_fd, bytes(100))}",
     "could not be read"),
])
def test_forged_answers_about_the_predictions_are_refused_without_reading_or_allocating_them(tmp_path, forgery,
                                                                                           message):
    """The model replaces the child's own answering code: an oversized size, a huge shape over a few bytes."""
    script = write_model(tmp_path / "model", f"""
        import sys
        main = sys.modules["__main__"]
        def forged(model, request, *, rows_fd, predictions_fd):
            return {forgery}
        main._predict = forged
        def predict_df(df):
            return [0.5] * len(df)
    """)
    with sandbox(script) as model:
        with pytest.raises(ModelOutputError, match=message):
            model.predict(ROWS)


# ---- finding 8: a bounded writable space ----------------------------------------------------------------------------
def disk_filling_model(folder: Path, target: str, *, stop_after_mb: int = 300) -> Path:
    """Writes 1 MB files into `target` until an error (which it lets through) or `stop_after_mb`."""
    return write_model(folder, f"""
        import os
        import numpy as np
        def predict_df(df):
            folder = {target}
            chunk = os.urandom(1024**2)
            for number in range({stop_after_mb}):
                with open(os.path.join(folder, f"filler-{{number}}"), "wb") as handle:
                    handle.write(chunk)
            return np.full(len(df), 0.5)
    """)


@pytest.mark.parametrize("target", ['os.environ["TMPDIR"]', 'os.environ["HOME"]', "os.getcwd()", '"/dev/shm"'],
                         ids=["TMPDIR", "HOME", "its own folder", "/dev/shm"])
def test_a_model_filling_its_temporary_folder_is_stopped_at_the_limit_with_a_clear_message(tmp_path, target):
    require_bubblewrap()
    script = disk_filling_model(tmp_path / "model", target)
    with sandbox(script, isolation=ISOLATION_BUBBLEWRAP, disk_limit_mb=100) as model:
        with pytest.raises(ModelOutputError, match=r"wrote more than 100 MB to its temporary folder .*limit"):
            model.predict(ROWS)
        with pytest.raises(ModelOutputError, match="wrote more than 100 MB"):  # stopped: the space stays full
            model.predict(ROWS)
        assert model._process.wait(timeout=30) is not None  # the child was stopped
        host_bytes = sum(path.stat().st_size for path in model._workdir.rglob("*") if path.is_file())
        assert host_bytes < 1024**2, "the sandbox wrote to the server's disk"


def test_without_bubblewrap_a_model_writing_one_file_past_the_limit_is_stopped(tmp_path):
    script = write_model(tmp_path / "model", """
        import os
        import numpy as np
        def predict_df(df):
            with open(os.path.join(os.environ["TMPDIR"], "big"), "wb") as handle:
                for _ in range(300):
                    handle.write(b"x" * 1024**2)
            return np.full(len(df), 0.5)
    """)
    with sandbox(script, isolation=ISOLATION_PROCESS, disk_limit_mb=100) as model:
        with pytest.raises(ModelOutputError, match="wrote more than 100 MB to its temporary folder"):
            model.predict(ROWS)
        assert (model._workdir / "tmp" / "big").stat().st_size <= 100 * 1024**2


def test_a_model_cannot_write_to_dev_under_bubblewrap(tmp_path):
    require_bubblewrap()
    script = write_model(tmp_path / "model", """
        import numpy as np
        def predict_df(df):
            try:
                open("/dev/filler", "wb").close()
                return np.full(len(df), 1.0)
            except OSError as error:
                print("refused:", error.strerror)
                return np.full(len(df), 0.0)
    """)
    log = LogLines()
    with sandbox(script, isolation=ISOLATION_BUBBLEWRAP, log=log) as model:
        assert model.predict(ROWS).tolist() == [0.0, 0.0, 0.0]
    assert "refused: Read-only file system" in log.text()


def test_a_model_whose_files_do_not_fit_the_disk_limit_is_refused_at_load(tmp_path):
    require_bubblewrap()
    folder = tmp_path / "model"
    write_model(folder, "def predict_df(df):\n    return [0.5] * len(df)\n")
    with open(folder / "weights.bin", "wb") as weights:
        weights.truncate(80 * 1024**2)
    with pytest.raises(ModelLoadError, match="model's files take more than the sandbox's 64 MB of disk space"):
        sandbox(folder / "model.py", isolation=ISOLATION_BUBBLEWRAP, disk_limit_mb=64)


def test_a_pickle_larger_than_the_disk_limit_is_read_in_place_and_loads(tmp_path):
    require_bubblewrap()
    frame, labels = training_rows()
    estimator = LogisticRegression().fit(frame[["amount", "age"]], labels)
    estimator.padding_ = np.zeros(10 * 1024**2)  # 80 MB of weights, beyond the 64 MB disk limit
    path = tmp_path / "model.joblib"
    joblib.dump(estimator, path)
    with sandbox(path, isolation=ISOLATION_BUBBLEWRAP, disk_limit_mb=64) as model:
        predictions = model.predict(frame[["amount", "age"]])
    assert predictions == pytest.approx(estimator.predict_proba(frame[["amount", "age"]])[:, 1])


# ---- finding 8: no folder outlives its owner ------------------------------------------------------------------------
def dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_stale_folders_are_removed_and_live_ones_kept(tmp_path):
    live = make_owned_folder("sandbox", tmp_path)
    (live / "model").mkdir()
    gone = tmp_path / f"rime-run-{dead_pid()}-123-abc"
    reused_pid = tmp_path / f"rime-sandbox-{os.getpid()}-{process_start_ticks(os.getpid()) - 1}-abc"
    unrelated = tmp_path / "rime-sandbox-notes"
    for folder in (gone, reused_pid, unrelated):
        (folder / "model").mkdir(parents=True)

    assert sorted(remove_stale_sandbox_folders(tmp_path)) == sorted([gone, reused_pid])
    assert live.is_dir() and unrelated.is_dir() and not gone.exists() and not reused_pid.exists()
    assert folder_owner(live.name) == (os.getpid(), process_start_ticks(os.getpid()))


def test_a_folder_made_in_another_pid_namespace_is_left_alone(tmp_path):
    # Another container sharing /tmp (and its hostname): its live worker's PID is not visible from here.
    other_namespace = tmp_path / f"rime-run-{dead_pid()}-123-n1-abc"
    ours_dead = tmp_path / f"rime-run-{dead_pid()}-123-n{pid_namespace()}-abc"
    for folder in (other_namespace, ours_dead):
        folder.mkdir()

    assert remove_stale_sandbox_folders(tmp_path) == [ours_dead]
    assert other_namespace.is_dir() and folder_owner(other_namespace.name) is None


def test_a_link_named_like_a_stale_folder_is_not_followed(tmp_path):
    target = tmp_path / "precious"
    (target / "keep").mkdir(parents=True)
    link = tmp_path / "scan" / f"rime-sandbox-{dead_pid()}-1-abc"
    link.parent.mkdir()
    link.symlink_to(target)

    assert remove_stale_sandbox_folders(link.parent) == []
    assert (target / "keep").is_dir()


@pytest.mark.parametrize("isolation", BOTH_ISOLATIONS)
def test_the_sandbox_folder_is_named_after_its_owner_and_removed_on_close(tmp_path, isolation):
    require_bubblewrap(isolation)
    script = write_model(tmp_path / "model", "def predict_df(df):\n    return [0.5] * len(df)\n")
    with sandbox(script, isolation=isolation) as model:
        workdir = model._workdir
        assert folder_owner(workdir.name) == (os.getpid(), process_start_ticks(os.getpid()))
        assert np.allclose(model.predict(ROWS), 0.5)
    assert not workdir.exists()
