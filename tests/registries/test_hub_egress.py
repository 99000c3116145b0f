"""Every connection the model hub client makes goes through the outbound policy (issue 15, R2): the endpoint was
checked once, then huggingface_hub followed the hub's `Location` to any host (the cloud metadata address, the
server's own services) and the body became a model file. Now a redirect to a refused host, or a name that resolves
elsewhere when the download connects (DNS rebinding), stops the download with a message that does not name it."""
import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from projects.models import ModelSource
from projects.registries import egress, integrations, services as registry, sources
from stresstests.engine.errors import ModelLoadError
from tests.registries.hub_stand_in import REVISION, local_hub
from tests.text_models import SENTIMENT, cached_text_classifier

pytestmark = pytest.mark.django_db
SECRET = b'{"AccessKeyId": "ASIA-INTERNAL-ONLY", "SecretAccessKey": "imds-secret"}\n'
REPO = "evil/model"


@pytest.fixture
def internal_server():
    """A host the policy refuses (127.0.0.2 is not allowed below), standing in for 169.254.169.254."""
    hits = []

    class Internal(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(SECRET)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(SECRET)

        do_HEAD = do_GET

    server = ThreadingHTTPServer(("127.0.0.2", 0), Internal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.2:{server.server_port}/latest/meta-data/iam/security-credentials/role", hits
    server.shutdown()


def redirecting_hub(files: dict[str, bytes], redirect_name: str, location: str) -> ThreadingHTTPServer:
    class Hub(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.answer(False)

        def do_HEAD(self):
            self.answer(True)

        def answer(self, head):
            if self.path.startswith(f"/api/models/{REPO}/revision/"):
                body = json.dumps({"id": REPO, "sha": REVISION, "siblings": [{"rfilename": n} for n in files]})
                return self.send(200, body.encode(), head, {"Content-Type": "application/json"})
            if self.path.startswith(f"/api/models/{REPO}/tree/{REVISION}"):
                tree = [{"type": "file", "path": n, "size": len(SECRET if n == redirect_name else b),
                         "oid": hashlib.sha1(b).hexdigest()} for n, b in files.items()]
                return self.send(200, json.dumps(tree).encode(), head, {"Content-Type": "application/json"})
            name = self.path.removeprefix(f"/{REPO}/resolve/{REVISION}/")
            if name == redirect_name:
                return self.send(302, b"", head, {"Location": location, "X-Repo-Commit": REVISION, "ETag": '"abc"',
                                                  "X-Linked-Size": str(len(SECRET))})
            if name in files:
                return self.send(200, files[name], head, {"X-Repo-Commit": REVISION,
                                                          "ETag": '"%s"' % hashlib.sha256(files[name]).hexdigest()})
            return self.send(404, b"{}", head, {"X-Error-Code": "RepoNotFound"})

        def send(self, status, body, head, headers):
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def hub_model(owner, workspace, project, endpoint: str, repo: str = REPO):
    hub = integrations.integration_create(user=owner, workspace=workspace, name="hub",
                                          integration_type="INTEGRATION_TYPE_HUGGINGFACE",
                                          config={"endpoint": endpoint}, secrets={"token": "hf_tenant_token"})
    return registry.model_register(user=owner, project=project, name="m", tags=[], source=ModelSource.HUGGING_FACE,
                                   integration=hub, model_config={"hugging_face": {"model_uri": repo}},
                                   validate=False)


def test_a_redirect_to_a_refused_host_is_not_followed(settings, project, owner, workspace, tmp_path,
                                                      internal_server, monkeypatch):
    internal_url, hits = internal_server
    folder = cached_text_classifier(SENTIMENT)
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != "rime_hugging_face.json"}
    files["vocab.txt"] = b"placeholder"
    hub = redirecting_hub(files, "vocab.txt", internal_url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]  # the hub's host; 127.0.0.2 stays refused
    with pytest.raises(egress.EgressRefused):
        egress.check_url(internal_url, what="probe")
    model = hub_model(owner, workspace, project, f"http://127.0.0.1:{hub.server_port}")
    try:
        with pytest.raises(ModelLoadError) as refused:
            sources.materialize_model(model, tmp_path / "out")
    finally:
        hub.shutdown()
    assert hits == []
    message = str(refused.value)
    assert "does not connect to on a user's behalf" in message
    assert "127.0.0.2" not in message and "meta-data" not in message
    assert not any(p.is_file() and p.read_bytes() == SECRET for p in (tmp_path / "out").rglob("*"))


def test_a_hub_name_that_resolves_elsewhere_when_connecting_is_refused(settings, project, owner, workspace, tmp_path,
                                                                       internal_server, monkeypatch):
    """DNS rebinding: the name passes the first check (127.0.0.1, allowed), then resolves to 127.0.0.2."""
    internal_url, hits = internal_server
    port = int(internal_url.split(":")[2].split("/")[0])
    answers = iter(["127.0.0.1", "127.0.0.1"])  # the check on saving, the check before downloading
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):  # the outside DNS server, the one thing mocked
        if host == "hub.rebind.test":
            return real(next(answers, "127.0.0.2"), *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    model = hub_model(owner, workspace, project, f"http://hub.rebind.test:{port}")
    with pytest.raises(ModelLoadError, match="does not connect to on a user's behalf"):
        sources.materialize_model(model, tmp_path / "out")
    assert hits == []


def test_xet_transfers_are_off_once_the_hub_is_used(settings, project, owner, workspace, tmp_path, monkeypatch):
    from huggingface_hub.utils._runtime import is_xet_available

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with local_hub("org/sentiment", cached_text_classifier(SENTIMENT)) as hub:
        model = hub_model(owner, workspace, project, hub.url, repo="org/sentiment")
        out = sources.materialize_model(model, tmp_path / "out")
    assert (out / "config.json").is_file()
    assert is_xet_available() is False
