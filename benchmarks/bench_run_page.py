"""Load test of the run page: the fraud example's report (every category) served by `make run`'s server.

Stores the fraud report once as a finished run of the demo project (the engine on shared/data/fraud, as the worker
would), signs in with the demo login, then lets 10 concurrent clients (threads, one connection per request) request
the run page a bounded number of times. Prints median and p95 latency per page, measured at the client on loopback,
so it is the server's time plus a little socket overhead. Target: p95 < 150 ms for the run page (overview).

Run (with `make run` serving on 127.0.0.1:8000 in another terminal):
    .venv/bin/python benchmarks/bench_run_page.py [--requests 300] [--concurrency 10] [--all-pages]
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rime_web.settings")
RUN_NAME = "Fraud example (all categories)"
TARGET_P95_MS = 150.0
HTMX_SUFFIX = " (htmx)"


def fraud_run_id() -> str:
    """The demo project's fraud run; created from a real engine run the first time."""
    import django

    django.setup()
    from django.utils import timezone

    from projects.management.commands.seed_demo import DEMO_PROJECT, DEMO_WORKSPACE
    from projects.models import Project
    from stresstests.models import RunStatus, StressTestReport, StressTestRun
    from tests.results.reports import fraud_report

    project = Project.objects.get(workspace__name=DEMO_WORKSPACE, name=DEMO_PROJECT)
    run = project.runs.filter(name=RUN_NAME, status=RunStatus.SUCCEEDED, report__isnull=False).first()
    if run is None:
        from tests.shared_data import MISSING_REASON, fraud_data_present

        if not fraud_data_present():
            sys.exit(f"Cannot store the fraud run: {MISSING_REASON}.")
        print("Running the engine on the fraud example (once)…", flush=True)
        report = fraud_report()
        now = timezone.now()
        run = StressTestRun.objects.create(project=project, name=RUN_NAME, status=RunStatus.SUCCEEDED, progress=1.0,
                                           started_at=now, finished_at=now, summary=report["run"]["severity_counts"])
        StressTestReport.objects.create(run=run, data=report, schema_version=report["schema_version"])
    return str(run.id)


def demo_password() -> str:
    if os.environ.get("DEMO_PASSWORD"):
        return os.environ["DEMO_PASSWORD"]
    for line in (ROOT / "var" / "local.env").read_text().splitlines():
        if line.startswith("DEMO_PASSWORD="):
            return line.split("=", 1)[1].strip()
    raise SystemExit("No DEMO_PASSWORD in the environment or var/local.env; run `make run` first.")


def cookies_of(response: http.client.HTTPResponse) -> dict[str, str]:
    jar = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def sign_in(host: str, port: int, username: str, password: str) -> str:
    """The Cookie header of a signed-in session, obtained through the login form like a browser."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request("GET", "/accounts/login/")
    response = connection.getresponse()
    page = response.read().decode()
    cookies = cookies_of(response)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    connection.request("POST", "/accounts/login/", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookies['csrftoken']}",
        "Referer": f"http://{host}:{port}/accounts/login/"})
    response = connection.getresponse()
    response.read()
    session = cookies_of(response).get("sessionid")
    if response.status != 302 or not session:
        raise SystemExit(f"Sign-in as {username} failed (HTTP {response.status}).")
    return f"sessionid={session}; csrftoken={cookies['csrftoken']}"


def timed_get(host: str, port: int, path: str, cookie: str) -> tuple[int, float, int]:
    """One request on a fresh connection; a path ending in " (htmx)" is sent as htmx's tab switch."""
    headers = {"Cookie": cookie}
    if path.endswith(HTMX_SUFFIX):
        path, headers["HX-Request"] = path.removesuffix(HTMX_SUFFIX), "true"
    connection = http.client.HTTPConnection(host, port, timeout=30)
    started = time.perf_counter()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    return response.status, elapsed, len(body)


def measure(host: str, port: int, path: str, cookie: str, *, requests: int, concurrency: int) -> dict:
    for _ in range(3):  # warm up templates and connections
        timed_get(host, port, path, cookie)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(lambda _: timed_get(host, port, path, cookie), range(requests)))
    wall = time.perf_counter() - started
    latencies = sorted(elapsed * 1000 for _, elapsed, _ in results)
    return {
        "path": path, "requests": requests, "errors": sum(status != 200 for status, _, _ in results),
        "median_ms": statistics.median(latencies), "p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
        "max_ms": latencies[-1], "per_second": requests / wall, "bytes": results[0][2],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--requests", type=int, default=300, help="requests per page (bounded)")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--username", default=os.environ.get("DEMO_USERNAME", "demo"))
    parser.add_argument("--all-pages", action="store_true", help="also the other tabs and a test's detail")
    args = parser.parse_args()
    run_id = fraud_run_id()
    cookie = sign_in(args.host, args.port, args.username, demo_password())
    pages = [f"/stress-tests/{run_id}/results/"]
    if args.all_pages:
        tab = f"/stress-tests/{run_id}/results"
        pages += [f"{tab}/category/", f"{tab}/category/{HTMX_SUFFIX}", f"{tab}/feature/",
                  f"/stress-tests/{run_id}/tests/feature_drift/", f"/stress-tests/{run_id}/tests/demographic_parity/"]
    print(f"{args.concurrency} concurrent clients, {args.requests} requests per page, http://{args.host}:{args.port}")
    print(f"{'page':<70} {'median':>8} {'p95':>8} {'max':>8} {'req/s':>7} {'KB':>6} errors")
    figures = [measure(args.host, args.port, page, cookie, requests=args.requests, concurrency=args.concurrency)
               for page in pages]
    for f in figures:
        print(f"{f['path']:<70} {f['median_ms']:>6.1f}ms {f['p95_ms']:>6.1f}ms {f['max_ms']:>6.1f}ms "
              f"{f['per_second']:>7.1f} {f['bytes'] / 1024:>6.0f} {f['errors']}")
    run_page = figures[0]
    verdict = "meets" if run_page["p95_ms"] < TARGET_P95_MS and not run_page["errors"] else "MISSES"
    print(f"Run page p95 {run_page['p95_ms']:.1f} ms {verdict} the target of {TARGET_P95_MS:.0f} ms.")
    return 0 if verdict == "meets" else 1


if __name__ == "__main__":
    sys.exit(main())
