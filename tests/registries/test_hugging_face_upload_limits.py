"""Uploads that declare one thing and expand to another (issue 15, R3-R5 and the minor points): a sparse tar
member, a zip whose central directory alone is the bomb, a sidecar of our own name, names that differ only in case.
Each is refused with a message that says why, and nothing is left in storage."""
from __future__ import annotations

import base64
import io
import struct
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.registries import hf_upload, storage
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
