"""Fixtures for the REST API: API keys, the official rime-sdk 2.13.2 client, and a local S3 server (moto)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDK_VERSION = "2.13.2"
SDK_DIR = ROOT / "var" / f"rime-sdk-{SDK_VERSION}"
# rime-sdk pins pandas<1.5 and numpy<2, which cannot install on Python 3.11 from wheels; it runs fine on the
# project's pandas/numpy, so it goes in with --no-deps and only the small libraries it imports are added.
SDK_EXTRA_PACKAGES = ["Deprecated==1.3.1", "importlib-metadata==10.2.0", "protobuf==7.36.2", "tqdm==4.70.1"]


def _install_sdk(target: Path) -> None:
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(target)]
    subprocess.run([*pip, "--no-deps", f"rime-sdk=={SDK_VERSION}"], check=True)
    subprocess.run([*pip, *SDK_EXTRA_PACKAGES], check=True)


@pytest.fixture(scope="session")
def rime_sdk():
    """The unmodified rime_sdk package, installed once into var/ (cached across runs) and put on sys.path."""
    if not (SDK_DIR / "rime_sdk" / "__init__.py").exists():
        SDK_DIR.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="rime-sdk-", dir=SDK_DIR.parent))
        _install_sdk(staging)
        try:
            staging.rename(SDK_DIR)  # atomic: a parallel session sees a whole install or none
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    if str(SDK_DIR) not in sys.path:
        sys.path.append(str(SDK_DIR))  # appended: the project's own pandas, numpy and urllib3 win
    import rime_sdk

    return rime_sdk


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Personas are created per test; the default PBKDF2 cost dominates these tests and guards nothing here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_api_key():
    from projects import services

    def make(user, workspace, name: str = "test key") -> str:
        _, raw_key = services.api_key_create(user=user, workspace=workspace, name=name)
        return raw_key

    return make


@pytest.fixture
def api_key(make_api_key, owner, workspace) -> str:
    return make_api_key(owner, workspace)


@pytest.fixture
def s3_endpoint():
    """A moto S3 server on loopback; any credentials are accepted."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_client(s3_endpoint):
    import boto3

    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")
