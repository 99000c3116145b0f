"""S3 downloads are capped on the bytes actually received (projects/registries/sources.py), against a real
S3-compatible server (moto on loopback).

The earlier code asked HEAD for the size and then downloaded: an object replaced between the two requests (or a
server answering HEAD with a small size) was downloaded whole. Here the object is really replaced, on the server,
right after the HEAD request, which reproduces the race deterministically.
"""
from __future__ import annotations

import unittest.mock

import pytest

from projects.registries import integrations, sources
from tests.registries.conftest import boto_client, put_objects


@pytest.fixture
def replaced_after_head(monkeypatch, s3_endpoint, s3_bucket):
    """The real client; the object is replaced by a larger one on the server once, right after the first HEAD or
    just before the first GET, whichever comes first: after whatever size check the code made up front."""
    real_client = integrations.s3_client
    replaced = []

    def replace_once(bucket: str, key: str) -> None:
        if not replaced:
            put_objects(s3_endpoint, bucket, {key: b"x" * 50_000})
            replaced.append(key)

    def client_with_a_race(s3):
        client = real_client(s3)
        real_head, real_get = client.head_object, client.get_object

        def head_then_replace(**kwargs):
            answer = real_head(**kwargs)
            replace_once(kwargs["Bucket"], kwargs["Key"])
            return answer

        def replace_then_get(**kwargs):
            replace_once(kwargs["Bucket"], kwargs["Key"])
            return real_get(**kwargs)

        client.head_object, client.get_object = head_then_replace, replace_then_get
        return client

    monkeypatch.setattr(integrations, "s3_client", client_with_a_race)
    put_objects(s3_endpoint, s3_bucket, {"data.csv": b"a,b\n1,2\n"})
    return s3_bucket


@pytest.mark.django_db
def test_an_object_replaced_after_its_size_was_checked_is_still_refused(settings, tmp_path, make_s3_integration,
                                                                         replaced_after_head):
    settings.MAX_UPLOAD_BYTES = 10_000
    integration = make_s3_integration()
    target = tmp_path / "data.csv"
    with pytest.raises(sources.SourceError, match=r"data.csv is 48.8 KB; the limit is 9.8 KB"):
        sources.download_s3_object(integrations.s3_settings(integration), replaced_after_head, "data.csv", target,
                                   integration=integration)
    assert not target.exists()


@pytest.mark.django_db
def test_a_model_folder_is_capped_on_the_bytes_received_in_total(settings, tmp_path, s3_endpoint, s3_bucket,
                                                                  make_s3_integration):
    settings.MAX_UPLOAD_BYTES = 10_000
    integration = make_s3_integration()
    put_objects(s3_endpoint, s3_bucket, {"m/model.py": b"x" * 6_000, "m/weights.bin": b"y" * 3_000})
    client = boto_client(s3_endpoint)
    real_list = sources._list_s3_objects

    def list_then_grow(*args):  # the listing is within the cap; the files grow before they are downloaded
        keys = real_list(*args)
        client.put_object(Bucket=s3_bucket, Key="m/weights.bin", Body=b"y" * 8_000)
        return keys

    settings_s3 = integrations.s3_settings(integration)
    with unittest.mock.patch.object(sources, "_list_s3_objects", list_then_grow):
        with pytest.raises(sources.SourceError, match=r"s3://\S+/m/ holds more than 9.8 KB in all; the limit is 9.8 KB"):
            sources.download_s3_prefix(settings_s3, s3_bucket, "m/", tmp_path / "model", integration=integration)
    assert not (tmp_path / "model" / "weights.bin").exists()
