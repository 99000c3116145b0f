"""A local stand-in for a Hugging Face model hub (the real one lives outside this machine): the three endpoints
`huggingface_hub.snapshot_download` calls (revision info, file tree, resolve), serving one folder as a repository."""
from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REVISION = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Hub:
    url: str
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Authorization header)


@contextlib.contextmanager
def local_hub(repo_id: str, folder: Path) -> Iterator[Hub]:
    files = {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}
    hub = Hub(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            self._answer(head=False)

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def _answer(self, *, head: bool) -> None:
            hub.requests.append((self.command, self.path, self.headers.get("Authorization", "")))
            if self.path.startswith(f"/api/models/{repo_id}/revision/"):
                siblings = [{"rfilename": name} for name in files]
                return self._send(json.dumps({"id": repo_id, "sha": REVISION, "siblings": siblings}).encode(), head)
            if self.path.startswith(f"/api/models/{repo_id}/tree/{REVISION}"):
                tree = [{"type": "file", "path": name, "size": len(body), "oid": hashlib.sha1(body).hexdigest()}
                        for name, body in files.items()]
                return self._send(json.dumps(tree).encode(), head)
            name = self.path.removeprefix(f"/{repo_id}/resolve/{REVISION}/")
            if name in files:
                etag = f'"{hashlib.sha256(files[name]).hexdigest()}"'
                return self._send(files[name], head, {"X-Repo-Commit": REVISION, "ETag": etag})
            return self._send(b'{"error": "Repository not found"}', head, {"X-Error-Code": "RepoNotFound"}, 404)

        def _send(self, body: bytes, head: bool, headers: dict | None = None, status: int = 200) -> None:
            self.send_response(status)
            for name, value in (headers or {"Content-Type": "application/json"}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hub.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
