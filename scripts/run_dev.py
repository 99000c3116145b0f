"""Serves the app and runs real Celery workers beside it; Ctrl-C stops them all."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    args = parser.parse_args()
    celery = [str(BIN / "celery"), "-A", "rime_web", "worker", "-l", "info"]
    # Stress tests get their own worker so two long runs can never hold up the reaper and validation jobs, which
    # run on the `default` queue beside the periodic scheduler (-B).
    stress_worker = subprocess.Popen(
        [*celery, "-Q", "stresstests", "--pool=prefork", "--concurrency=2", "-n", "stresstests@%h"], cwd=ROOT
    )
    default_worker = subprocess.Popen(
        [*celery, "-B", "-Q", "default", "--pool=prefork", "--concurrency=1", "-n", "default@%h",
         "-s", str(ROOT / "var" / "celerybeat-schedule")],
        cwd=ROOT,
    )
    # A multi-process server: on two cores one Python process would queue concurrent page loads behind the GIL.
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "rime_web.wsgi", "--bind", f"{args.host}:{args.port}", "--workers", "3",
         "--threads", "2", "--access-logfile", "-", "--graceful-timeout", "10"],
        cwd=ROOT,
    )
    processes = (("stress-test worker", stress_worker), ("default worker", default_worker), ("server", server))
    try:
        while True:
            for name, process in processes:
                if process.poll() is not None:
                    print(f"The {name} stopped (exit {process.returncode}); stopping the others.", file=sys.stderr)
                    return process.returncode or 1
            try:
                server.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        return 0
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
