"""Serves the app and runs real Celery workers beside it; Ctrl-C stops them all within a few seconds.

Stopping: each child runs in its own process group, so only this script decides how it stops. On SIGINT or SIGTERM it
asks every child to stop (Celery: warm shutdown, gunicorn: graceful), gives them GRACE_S, then sends Celery the second
signal (cold shutdown: running tasks are abandoned, and redelivered later since they are acked late), and after
KILL_AFTER_S kills every process group it has seen under a child. The model of a running stress test lives in a
sandbox child in its own session (stresstests/engine/sandbox.py): it is not in the worker's process group and, once
the pool process dies, not under the worker any more either, so the tree is recorded while the children still live.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# A warm shutdown waits for running tasks (a stress test can run for an hour): give it this long, then go cold.
GRACE_S = 3.0
KILL_AFTER_S = 6.0
POLL_S = 0.1


class StopRequested(Exception):
    """SIGINT or SIGTERM reached this script."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    # The second signal: Celery's cold shutdown (SIGQUIT), gunicorn's quick shutdown (SIGINT).
    second_signal: int = signal.SIGQUIT


@dataclass
class Supervisor:
    """Starts the children, watches them, and stops them with every process they started."""

    children: list[Child] = field(default_factory=list)
    seen_groups: set[int] = field(default_factory=set)

    def start(self, name: str, command: list[str], *, second_signal: int = signal.SIGQUIT) -> Child:
        process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
        child = Child(name, process, second_signal)
        self.children.append(child)
        return child

    def stopped_child(self) -> Child | None:
        return next((child for child in self.children if child.process.poll() is not None), None)

    def record_tree(self) -> None:
        """Remembers the process group of every process under a child (the sandboxed models included)."""
        roots = {child.process.pid for child in self.children if child.process.poll() is None}
        for pid in descendants(roots) | roots:
            group = process_group(pid)
            if group is not None and group != os.getpgrp():
                self.seen_groups.add(group)

    def stop(self, *, grace_s: float = GRACE_S, kill_after_s: float = KILL_AFTER_S) -> None:
        self.record_tree()
        self._signal_all(signal.SIGTERM)
        started = time.monotonic()
        self._wait(until=started + grace_s)
        self._signal_all(None)
        self._wait(until=started + kill_after_s)
        for group in sorted(self.seen_groups):
            _kill_group(group)
        for child in self.children:
            child.process.wait()

    def _signal_all(self, signum: int | None) -> None:
        for child in self.children:
            if child.process.poll() is None:
                _send(child.process.pid, child.second_signal if signum is None else signum)

    def _wait(self, *, until: float) -> None:
        while time.monotonic() < until:
            self.record_tree()
            if all(child.process.poll() is not None for child in self.children) and not self._live_groups():
                return
            time.sleep(POLL_S)

    def _live_groups(self) -> bool:
        return any(group_alive(group) for group in self.seen_groups)


def _send(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces; the fields after it are plain.
    return text[text.rfind(")") + 2:].split()


def process_group(pid: int) -> int | None:
    fields = _proc_stat(pid)
    if fields is None:
        return None
    return int(fields[2])


def descendants(roots: set[int]) -> set[int]:
    """Every live process under the given ones (Linux /proc; elsewhere the children's own groups are killed)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields is not None and fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), set(roots)
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A group of zombies only is gone for our purpose (their parent reaps them).
    return any(process_group(pid) == group and (_proc_stat(pid) or ["Z"])[0] != "Z"
               for pid in _all_pids())


def _all_pids() -> list[int]:
    proc = Path("/proc")
    return [int(entry.name) for entry in proc.iterdir() if entry.name.isdigit()] if proc.is_dir() else []


def var_dir() -> Path:
    """This process's local folder, as rime_web/settings.py reads it (RIME_VAR_DIR, else var/ in the checkout)."""
    return Path(os.environ.get("RIME_VAR_DIR", ROOT / "var"))


def start_all(supervisor: Supervisor, host: str, port: str) -> None:
    celery = [str(BIN / "celery"), "-A", "rime_web", "worker", "-l", "info"]
    # Stress tests get their own worker so two long runs can never hold up the reaper and validation jobs, which
    # run on the `default` queue beside the periodic scheduler (-B).
    supervisor.start("stress-test worker", [*celery, "-Q", "stresstests", "--pool=prefork", "--concurrency=2",
                                            "-n", f"stresstests-{port}@%h"])
    supervisor.start("default worker", [*celery, "-B", "-Q", "default", "--pool=prefork", "--concurrency=1",
                                        "-n", f"default-{port}@%h", "-s", str(var_dir() / "celerybeat-schedule")])
    # A multi-process server: on two cores one Python process would queue concurrent page loads behind the GIL.
    supervisor.start("server", [str(BIN / "gunicorn"), "rime_web.wsgi", "--bind", f"{host}:{port}", "--workers", "3",
                                "--threads", "2", "--access-logfile", "-", "--graceful-timeout", "3"],
                     second_signal=signal.SIGINT)


def _raise_stop(signum, frame) -> None:
    raise StopRequested()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    args = parser.parse_args()
    supervisor = Supervisor()
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        start_all(supervisor, args.host, args.port)
        while True:
            stopped = supervisor.stopped_child()
            if stopped is not None:
                code = stopped.process.returncode
                print(f"The {stopped.name} stopped (exit {code}); stopping the others.", file=sys.stderr)
                return code or 1
            supervisor.record_tree()
            time.sleep(1)
    except StopRequested:
        print("Stopping the server and the workers…", file=sys.stderr)
        return 0
    finally:
        # A second Ctrl-C must not cut the stop short and leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop()


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
