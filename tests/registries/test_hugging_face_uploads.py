"""A Hugging Face model uploaded as its save_pretrained folder or an archive of it: stored as plain files at the
prefix's root, nothing run; links, paths leaving the folder, bombs and unexpected file kinds refused with a message
that says why, and nothing left in storage."""
from __future__ import annotations

import io
import json
import stat
import tarfile
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import ModelSource
from projects.registries import services as registry, sources, storage
from projects.registries.forms import ModelRegisterForm, parse_class_map

pytestmark = pytest.mark.django_db

SAVED = {  # what save_pretrained writes for a small BERT-style classifier (contents do not matter here)
    "config.json": json.dumps({"architectures": ["BertForSequenceClassification"]}).encode(),
    "model.safetensors": b"\0" * 64,
    "tokenizer.json": b"{}",
    "tokenizer_config.json": b"{}",
    "special_tokens_map.json": b"{}",
    "vocab.txt": b"[PAD]\n[UNK]\ngood\nbad\n",
}


def zip_upload(files: dict[str, bytes], name: str = "tiny-bert.zip", links: dict[str, str] | None = None):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, content in files.items():
            archive.writestr(path, content)
        for path, target in (links or {}).items():
            info = zipfile.ZipInfo(path)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return SimpleUploadedFile(name, buffer.getvalue())


def tar_upload(files: dict[str, bytes], name: str = "tiny-bert.tar.gz", links: dict[str, str] | None = None):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for path, target in (links or {}).items():
            info = tarfile.TarInfo(path)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return SimpleUploadedFile(name, buffer.getvalue())


def folder_upload(files: dict[str, bytes]):
    uploads = [SimpleUploadedFile(path.rsplit("/", 1)[-1], content) for path, content in files.items()]
    return uploads, list(files)


def register(project, owner, files, relative_paths=None, class_map=None):
    return registry.model_register(
        user=owner, project=project, name="sentiment", tags=[], source=ModelSource.UPLOAD, files=files,
        relative_paths=relative_paths, validate=False,
        model_config={"hugging_face": {"class_map": class_map or {}, "ignore_class_names": True}})


def stored(model) -> list[str]:
    return storage.list_files(model.storage_prefix)


@pytest.mark.parametrize("make", [zip_upload, tar_upload], ids=["zip", "tar.gz"])
def test_an_archive_of_the_folder_is_stored_flat_with_its_hugging_face_config(project, owner, make, tmp_path):
    model = register(project, owner, [make({f"tiny-bert/{n}": c for n, c in SAVED.items()})],
                     class_map={"0": "negative", "1": "positive"})
    assert model.source == ModelSource.UPLOAD and model.entry_point == ""
    assert model.model_config == {"hugging_face": {"model_uri": "", "tokenizer_uri": "", "ignore_class_names": True,
                                                   "class_map": {"0": "negative", "1": "positive"}}}
    assert stored(model) == sorted(SAVED)
    folder = sources.materialize_model(model, tmp_path / "model")
    assert (folder / "config.json").read_bytes() == SAVED["config.json"]


def test_a_folder_upload_keeps_its_relative_paths_and_skips_hidden_files(project, owner):
    files = {f"tiny-bert/{n}": c for n, c in SAVED.items()} | {
        "tiny-bert/tokenizer/vocab.txt": b"x\n", "tiny-bert/.git/HEAD": b"ref", "tiny-bert/.gitattributes": b""}
    uploads, paths = folder_upload(files)
    model = register(project, owner, uploads, relative_paths=paths)
    assert stored(model) == sorted([*SAVED, "tokenizer/vocab.txt"])


@pytest.mark.parametrize("files, message", [
    ({**SAVED, "../evil.json": b"{}"}, "leaves its folder"),
    ({**SAVED, "/etc/cron.d/x.json": b"{}"}, "absolute path"),
    ({**SAVED, "modeling_evil.py": b"import os"}, "files a saved Hugging Face model does not have: modeling_evil.py"),
    ({**SAVED, "extra.pkl": b"x"}, "does not have: extra.pkl"),
    ({n: c for n, c in SAVED.items() if n != "config.json"}, "has no config.json at its top"),
    ({n: c for n, c in SAVED.items() if n != "model.safetensors"}, "has no weights"),
    ({n: c for n, c in SAVED.items() if n not in ("tokenizer.json", "tokenizer_config.json", "vocab.txt")},
     "has no tokenizer files"),
], ids=["dotdot", "absolute", "code", "pickle", "no-config", "no-weights", "no-tokenizer"])
@pytest.mark.parametrize("make", [zip_upload, tar_upload], ids=["zip", "tar.gz"])
def test_unsafe_or_incomplete_archives_are_refused_and_leave_nothing(project, owner, make, files, message):
    with pytest.raises(ValidationError, match=message.replace(".", r"\.").replace("(", r"\(")):
        register(project, owner, [make(files)])
    assert not project.models.exists()
    assert not storage.list_files("models") if storage.default_storage.exists("models") else True


@pytest.mark.parametrize("make", [zip_upload, tar_upload], ids=["zip", "tar.gz"])
def test_an_archive_of_the_parent_folder_says_where_config_json_is(project, owner, make):
    """Review 15: a zip of models/ (holding tiny-sentiment/) only said "has no config.json at its top"."""
    files = {f"models/tiny-sentiment/{n}": c for n, c in SAVED.items()} | {"models/README.txt": b"notes"}
    with pytest.raises(ValidationError, match=r"found tiny-sentiment/config\.json: give that folder "
                                              r"\(tiny-sentiment\) itself"):
        register(project, owner, [make(files)])
    assert not project.models.exists()


@pytest.mark.parametrize("make", [zip_upload, tar_upload], ids=["zip", "tar.gz"])
def test_links_in_an_archive_are_refused(project, owner, make):
    with pytest.raises(ValidationError, match="“tokenizer.json” is a link"):
        register(project, owner, [make({n: c for n, c in SAVED.items() if n != "tokenizer.json"},
                                       links={"tokenizer.json": "/etc/passwd"})])


def test_archive_bombs_are_refused_before_anything_is_written(project, owner, settings):
    settings.MAX_UPLOAD_BYTES = 4 * 1024 * 1024
    bomb = {**SAVED, "model.safetensors": b"\0" * (6 * 1024 * 1024)}
    with pytest.raises(ValidationError, match="expands to more than 4.0 MB"):
        register(project, owner, [tar_upload(bomb)])
    with pytest.raises(ValidationError, match="compressed suspiciously well"):
        register(project, owner, [zip_upload(bomb)])
    assert not storage.default_storage.exists("models")


def test_too_many_files_are_refused(project, owner, monkeypatch):
    from projects.registries import hf_upload

    monkeypatch.setattr(hf_upload, "MAX_FILES", 10)
    many = {**SAVED, **{f"extra_{n}.json": b"{}" for n in range(10)}}
    with pytest.raises(ValidationError, match="holds more than 10 files"):
        register(project, owner, [tar_upload(many)])


def test_a_folder_whose_paths_do_not_match_its_files_is_refused(project, owner):
    uploads, paths = folder_upload({f"m/{n}": c for n, c in SAVED.items()})
    with pytest.raises(ValidationError, match="6 files came with 5 folder paths"):
        register(project, owner, uploads, relative_paths=paths[:5])
    with pytest.raises(ValidationError, match="do not match the files"):
        register(project, owner, uploads, relative_paths=list(reversed(paths)))


@pytest.mark.parametrize("text, expected", [
    ("0: negative, 1: positive", {"0": "negative", "1": "positive"}),
    ("0=neg\n1=pos\n2 = neutral", {"0": "neg", "1": "pos", "2": "neutral"}),
    ('{"1": "positive", "0": "negative"}', {"1": "positive", "0": "negative"}),
    ("", {}),
])
def test_class_maps_are_read_from_pairs_or_json(text, expected):
    assert parse_class_map(text) == expected


@pytest.mark.parametrize("text, message", [
    ("0 negative, 1 positive", "“0 negative” is not “index: name”"),
    ("neg: 0", "“neg” is not a class index"),
    ("0: negative, 0: positive", "Class 0 is given twice"),
    ("0: , 1: positive", "Class 0 has no name"),
    ('{"0": "negative",', "not valid JSON"),
    ('{"0": 1}', "Class 0 has no name"),
])
def test_class_map_mistakes_are_named(text, message):
    with pytest.raises(ValidationError, match=message):
        parse_class_map(text)


def test_the_registry_form_registers_an_uploaded_folder(client_for, owner, project):
    from django.urls import reverse

    uploads, paths = folder_upload({f"tiny-bert/{n}": c for n, c in SAVED.items()})
    url = reverse("projects:model_register", args=[project.id]) + "?source=hugging_face_upload"
    client = client_for(owner)
    page = client.get(url).content.decode()
    assert "webkitdirectory" in page and 'data-relative-paths="relative_paths"' in page
    assert '<input type="hidden" name="relative_paths"' in page and "Relative paths" not in page
    response = client.post(url, {"name": "sentiment", "hf_folder": uploads, "relative_paths": json.dumps(paths),
                                 "class_map": "0: negative, 1: positive", "ignore_class_names": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    model = project.models.get(name="sentiment")
    assert model.model_config["hugging_face"]["class_map"] == {"0": "negative", "1": "positive"}
    assert stored(model) == sorted(SAVED)


def test_the_registry_form_says_what_is_wrong(client_for, owner, project):
    from django.urls import reverse

    url = reverse("projects:model_register", args=[project.id]) + "?source=hugging_face_upload"
    client = client_for(owner)
    gapped = client.post(url, {"name": "m", "hf_archive": zip_upload(SAVED), "class_map": "0: neg, 2: pos"})
    assert "Class indices must run 0, 1, 2, … without gaps." in gapped.content.decode()
    neither = client.post(url, {"name": "m", "class_map": "0 neg"}).content.decode()
    assert "Choose the model&#x27;s folder, or give a .zip or .tar.gz of it." in neither
    assert "“0 neg” is not “index: name”" in neither
    wrong_kind = client.post(url, {"name": "m", "hf_archive": SimpleUploadedFile("m.rar", b"x")}).content.decode()
    assert "m.rar is not a .zip or .tar.gz archive." in wrong_kind
    assert not project.models.exists()
