"""Working folders of model sandboxes that outlive a killed worker, found by their owner and removed.

A sandbox's host folder (the copy of the model's files) is deleted by `SandboxedModel.close()`, and the folder a run
or a model validation downloads the model into by its `with` block. A worker killed with SIGKILL gets to neither, so
each such folder is named after the process that made it: `rime-<kind>-<pid>-<start>-n<pidns>-…` (kind: sandbox, run,
model), where `<start>` is the process's start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`) and
`<pidns>` its PID namespace: a folder made in another namespace (another container sharing /tmp) is never judged. A
folder is stale when no process with that PID *and* that start time is alive; the start time is what tells a restarted
worker (containers hand out the same small PIDs on every start) from the one that made the folder. The worker start, the
pool-process start and the periodic reaper call `remove_stale_sandbox_folders()`.

Only directories owned by this user are touched (the temporary folder is shared with other users), and `rmtree`
never follows a link, so a planted symlink cannot turn the clean-up against another folder.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

KINDS = ("sandbox", "run", "model")
_logger = logging.getLogger(__name__)
_OWNED_NAME = re.compile(rf"^rime-(?:{'|'.join(KINDS)})-(\d+)-(\d+)-(?:n(\d+)-)?")


def process_stat_fields(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state first), or [] if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()  # the command name may hold spaces and parentheses
    except OSError:
        return []


def process_start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None if it does not exist or is a zombie."""
    fields = process_stat_fields(pid)
    if len(fields) < 20 or fields[0] in ("Z", "X"):  # killed, not yet reaped by its parent
        return None
    return int(fields[19])


def pid_namespace() -> str:
    """This process's PID namespace ("4026531836"): PIDs of two containers sharing a hostname are told apart by it."""
    try:
        return os.readlink("/proc/self/ns/pid").partition("[")[2].rstrip("]")
    except OSError:
        return ""


def make_owned_folder(kind: str = "sandbox", root: str | os.PathLike | None = None) -> Path:
    """A new private folder (0700) named after this process, so a successor can tell when it was left behind."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    pid = os.getpid()
    prefix = f"rime-{kind}-{pid}-{process_start_ticks(pid) or 0}-n{pid_namespace() or 0}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))


@contextmanager
def owned_temporary_folder(kind: str, root: str | os.PathLike | None = None) -> Iterator[Path]:
    """`tempfile.TemporaryDirectory` whose folder a successor removes if this process is killed inside the block."""
    folder = make_owned_folder(kind, root)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def folder_owner(name: str) -> tuple[int, int] | None:
    """(pid, start ticks) of the folder's maker; None if not ours to judge: another PID namespace made it (another
    container sharing the temporary folder, whose processes we cannot see)."""
    match = _OWNED_NAME.match(name)
    if not match or match.group(3) not in (None, pid_namespace() or "0"):
        return None
    return int(match.group(1)), int(match.group(2))


def owner_is_alive(pid: int, start_ticks: int) -> bool:
    return process_start_ticks(pid) == start_ticks


def remove_stale_sandbox_folders(root: str | os.PathLike | None = None) -> list[Path]:
    """Delete the owned folders under `root` (the temporary folder) whose owner process is gone; returns them."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob("rime-*"):
        owner = folder_owner(folder.name)
        if owner is None or owner_is_alive(*owner) or not _ours(folder):
            continue
        try:
            shutil.rmtree(folder)
        except OSError as error:  # e.g. a file the model made immutable: left for the next sweep, and said so
            _logger.warning("Could not remove the stale folder %s: %s", folder, error)
            continue
        removed.append(folder)
    return removed


def _ours(folder: Path) -> bool:
    try:
        status = folder.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid()
