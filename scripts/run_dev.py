"""Serves the app and runs a real Celery worker beside it; Ctrl-C stops both."""
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
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "rime_web", "worker", "-B", "-l", "info", "-Q", "default,stresstests",
         "--pool=prefork", "--concurrency=2", "-s", str(ROOT / "var" / "celerybeat-schedule")],
        cwd=ROOT,
    )
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"{args.host}:{args.port}", "--noreload"], cwd=ROOT
    )
    try:
        while True:
            for name, process in (("worker", worker), ("server", server)):
                if process.poll() is not None:
                    print(f"The {name} stopped (exit {process.returncode}); stopping the other.", file=sys.stderr)
                    return process.returncode or 1
            try:
                server.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        return 0
    finally:
        for process in (server, worker):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (server, worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
