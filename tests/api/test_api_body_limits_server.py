"""Finding 7 against the real server `make run` uses (gunicorn), over a socket: a chunked body without Content-Length
is read when small and refused with 413 when over the limit, and a declared oversized body is refused with 413.

The request is written from a second thread while this one reads the answer: the server answers 413 without reading
the rest, so a writer that waited for its last chunk to go out would stall or meet a reset before reading anything.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading

import pytest

from tests.conftest import ROOT, _worker_env, wait_until

BINARY = "MODEL_TASK_BINARY_CLASSIFICATION"
MB = 1024 * 1024


@pytest.fixture
def server(transactional_db, settings, tmp_path):
    """gunicorn (one sync worker) on a free loopback port, against the test database."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "rime_web.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "1",
             "--timeout", "120"],
            cwd=ROOT, env={**_worker_env(settings), "API_MAX_BODY_BYTES": str(MB)}, stdout=log,
            stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: process.poll() is not None or _accepts(port), timeout=60, message="gunicorn to listen")
        assert process.poll() is None, log_path.read_text()[-3000:]
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def exchange(port: int, head: str, body_parts) -> tuple[int, dict]:
    """Writes the request from a thread (ignoring a reset once the server has answered) and reads the answer here."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=60)

    def write():
        try:
            connection.sendall(head.encode())
            for part in body_parts:
                connection.sendall(part)
        except OSError:
            pass  # the server answered and closed before taking everything: that is the behaviour under test

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    received = b""
    try:
        while not _complete(received):
            data = connection.recv(65536)
            if not data:
                break
            received += data
    finally:
        connection.close()
        writer.join(timeout=60)
    header, _, content = received.partition(b"\r\n\r\n")
    return int(header.split()[1]), json.loads(content)


def _complete(received: bytes) -> bool:
    """Whether the whole answer is in: its header and as many body bytes as its Content-Length says."""
    header, separator, content = received.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(content) >= int(value)
    return False  # no length: read until the server closes (Connection: close)


def chunked(payload: bytes, size: int = 64 * 1024):
    for start in range(0, len(payload), size):
        piece = payload[start:start + size]
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


def head(key: str, *, length: int | None = None) -> str:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (f"POST /v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"rime-api-key: {key}\r\n{framing}\r\nConnection: close\r\n\r\n")


@pytest.fixture
def key(owner, workspace, make_api_key) -> str:
    return make_api_key(owner, workspace)


def test_a_small_chunked_body_reaches_the_view(server, key, workspace):
    payload = json.dumps({"name": "Chunked", "modelTask": BINARY}).encode()
    status, body = exchange(server, head(key), chunked(payload, size=7))
    assert status == 201, body
    assert workspace.projects.filter(name="Chunked").exists()


def test_a_chunked_body_over_the_limit_is_a_413(server, key, workspace):
    payload = json.dumps({"name": "z" * (20 * MB), "modelTask": BINARY}).encode()
    status, body = exchange(server, head(key), chunked(payload))
    assert status == 413 and body["message"] == "The request body is larger than this endpoint accepts (1.0 MB)."
    assert not workspace.projects.exists()


def test_a_declared_body_over_the_limit_is_a_413_before_it_is_sent(server, key):
    status, body = exchange(server, head(key, length=50 * MB), [b"{" * MB])
    assert status == 413 and body["code"] == 3
