"""Uploads that declare one thing and expand to another (issue 15, R3-R5 and the minor points): a sparse tar
member, a zip whose central directory alone is the bomb, a sidecar of our own name, names that differ only in case.
Each is refused with a message that says why, and nothing is left in storage."""
from __future__ import annotations

import base64
import io
import json
import struct
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import ModelSource
from projects.registries import hf_upload, services as registry, sources, storage
from stresstests.engine.errors import ModelLoadError
from stresstests.engine.hugging_face import SIDECAR
from tests.registries.test_hugging_face_uploads import SAVED, folder_upload, register, zip_upload

pytestmark = pytest.mark.django_db

# 254 bytes: m/config.json, m/vocab.txt and a GNU sparse m/pytorch_model.bin declaring 500 MiB (all holes), as
# `tar --sparse -czf` writes it; tarfile reports the full size and isreg() is True, the gzip stream stays tiny.
SPARSE_TAR_GZ = base64.b64decode(
    "H4sIAAAAAAAAA+3V3wqCMBQG8F33FMMH0G06he6CHiDoMiLS7B+tha5IonfPpIuwyBuXRN/vZoqDHf04R+UR61gpkrJaS/W1uubSZ4GIwsDnh"
    "HHGuCRU2i+NkGNu5hmlJNPafNrX9PxHKe+kk3nsmrO9t7sHHAbBh/zDWv78vp0yaxU9+fP8J6PBcNrrugroivIOhdFZsp4pvUh3brzZt35Gc//X"
    "538oBSN03Holb3Te/8yPxLsvYuWAF8pL9H65WbnbXLef/KOApvxFff6L8hbz/xsuTtX3M1McUqfvxGlmnCv+BwAAAAAAAAAAAAAAAAAAP+cGjyB"
    "MHgAoAAA=")


def nothing_stored() -> bool:
    return not storage.default_storage.exists("models") or not storage.list_files("models")


def test_a_sparse_tar_member_is_refused(project, owner):
    with pytest.raises(ValidationError, match="“m/pytorch_model.bin” is a sparse file"):
        hf_upload.store_upload("models/x", [SimpleUploadedFile("m.tar.gz", SPARSE_TAR_GZ)])
    assert nothing_stored()


def test_bytes_actually_written_are_counted_not_the_declared_sizes(project, owner, settings):
    settings.MAX_UPLOAD_BYTES = 1024 * 1024
    uploads, paths = folder_upload({**SAVED, "model.safetensors": b"\1" * (2 * 1024 * 1024)})
    for upload in uploads:
        upload.size = 16  # what the request declared; the content is larger
    with pytest.raises(ValidationError, match="expands to more than 1.0 MB"):
        register(project, owner, uploads, relative_paths=paths)
    assert not project.models.exists()
    assert nothing_stored()


def directory_bomb(entries: int, *, claimed: int | None = None) -> bytes:
    """A zip whose central directory lists `entries` entries, all pointing at one tiny local entry; its end record
    claims `claimed` entries (zipfile reads the whole directory whatever the claim)."""
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0) + b"a"
    directory = bytearray()
    for i in range(entries):
        name = b"%x.json" % i
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0,
                                 0, 0, 0) + name
    claimed = entries if claimed is None else claimed
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, claimed, claimed, len(directory), len(local), 0)
    return local + bytes(directory) + end


@pytest.fixture
def directory_reads(monkeypatch):
    """How often zipfile parsed a central directory (a spy: the parse itself runs unchanged)."""
    calls = []
    real = zipfile.ZipFile._RealGetContents

    def spy(self):
        calls.append(1)
        return real(self)

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", spy)
    return calls


@pytest.mark.parametrize("path", ["hugging_face", "model_zip"])
def test_a_zip_with_too_many_entries_is_refused_from_its_end_record(project, owner, directory_reads, path):
    upload = SimpleUploadedFile("m.zip", directory_bomb(20_000))
    with pytest.raises(ValidationError, match="holds 20000 files; at most 2000 are accepted"):
        if path == "hugging_face":
            register(project, owner, [upload])
        else:
            registry.model_register(user=owner, project=project, name="m", tags=[], source=ModelSource.UPLOAD,
                                    files=[upload], validate=False)
    assert directory_reads == []
    assert not project.models.exists()


def test_a_zip_whose_file_list_is_too_large_is_refused_whatever_count_it_claims(project, owner, directory_reads):
    bomb = directory_bomb(200_000, claimed=6)   # ~4.6 MB of directory, 6 entries claimed
    with pytest.raises(ValidationError, match="file list; at most 4.0 MB is accepted"):
        register(project, owner, [SimpleUploadedFile("m.zip", bomb)])
    assert directory_reads == []


def test_an_ordinary_zip_still_opens(project, owner, directory_reads):
    model = register(project, owner, [zip_upload(SAVED)])
    assert "config.json" in storage.list_files(model.storage_prefix)
    assert directory_reads == [1]


def test_an_uploaded_sidecar_is_refused(project, owner):
    with pytest.raises(ValidationError, match="holds rime_hugging_face.json, which this server writes itself"):
        register(project, owner, [zip_upload({f"m/{n}": c for n, c in {**SAVED, SIDECAR: b"{}"}.items()})])
    assert not project.models.exists()
    assert nothing_stored()


def test_names_that_differ_only_in_case_are_refused(project, owner):
    uploads, paths = folder_upload({**SAVED, "Config.json": b"{}"})
    with pytest.raises(ValidationError, match=r"differ only in case \(Config.json, config.json\)"):
        register(project, owner, uploads, relative_paths=paths)
    assert nothing_stored()


def test_a_large_sidecar_from_a_server_folder_is_refused_before_it_is_parsed(settings, project, owner, tmp_path,
                                                                            monkeypatch):
    """The sidecar from a bucket, a hub or a server folder is read on the worker, outside the sandbox."""
    folder = tmp_path / "shared" / "m"
    folder.mkdir(parents=True)
    for name, content in SAVED.items():
        (folder / name).write_bytes(content)
    (folder / SIDECAR).write_text("[" + ",".join(["[]"] * 40_000) + "]")   # 120 KB; the real thing is < 1 KB
    settings.DATA_PATH_ALLOWLIST = [str(tmp_path / "shared")]
    parsed = []
    real = json.loads
    monkeypatch.setattr(json, "loads", lambda text, *a, **k: parsed.append(len(text)) or real(text, *a, **k))
    model = registry.model_register(user=owner, project=project, name="m", tags=[], validate=False,
                                    source=ModelSource.HUGGING_FACE,
                                    model_config={"hugging_face": {"model_uri": str(folder)}})
    with pytest.raises(ModelLoadError, match="rime_hugging_face.json is larger than 64 KB"):
        sources.materialize_model(model, tmp_path / "out")
    assert all(size < 64 * 1024 for size in parsed)
