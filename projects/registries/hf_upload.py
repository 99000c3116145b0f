"""A Hugging Face model uploaded as a `save_pretrained` folder or an archive of one (.zip, .tar.gz), stored safely.

Nothing here runs or unpickles anything: files are only copied into storage. What is refused, with a message that
says why: paths that leave the folder (`..`), absolute paths, links and special files (symlinks, hard links,
devices), more than MAX_FILES files, an expanded size above MAX_UPLOAD_BYTES or an implausible compression ratio
(bombs), and file kinds a saved model does not hold (code, pickles other than PyTorch's weight files, executables).
Hidden files and folders (.git/, .gitattributes, .DS_Store) and macOS archive junk are skipped. A single top folder
(an archive of the folder itself) is flattened, so the model's files sit at the prefix's root (interface 4 of the
text plan). PyTorch `.bin` weights are pickles: the worker scans them before they are loaded in the sandbox.
"""
from __future__ import annotations

import gzip
import stat
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from stresstests.engine.hugging_face import SIDECAR

from . import storage

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")
# What save_pretrained writes: configs and tokenizer files (json/txt), sentencepiece models, weights, a README.
ALLOWED_SUFFIXES = (".json", ".txt", ".model", ".safetensors", ".bin", ".md")
WEIGHT_SUFFIXES = (".safetensors", ".bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer_config.json", "spiece.model",
                   "sentencepiece.bpe.model", "tokenizer.model")
MAX_FILES = storage.MAX_ZIP_MEMBERS
MAX_COMPRESSION_RATIO = storage.MAX_COMPRESSION_RATIO
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Member:
    path: PurePosixPath
    size: int
    open: Callable[[], IO[bytes]]


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def store_upload(prefix: str, files: list[UploadedFile], relative_paths: list[str] | None = None) -> list[str]:
    """Stores the model's files at the root of `prefix`; returns their names. Refused uploads leave nothing behind."""
    if not files:
        raise ValidationError({"files": "Choose the model's folder, or a .zip or .tar.gz of it."})
    if len(files) == 1 and is_archive(files[0].name or ""):
        members = _archive_members(files[0])
    else:
        members = _folder_members(files, relative_paths)
    members = _checked(members, where=files[0].name if len(files) == 1 else "The folder")
    written = _Written(where=files[0].name if len(files) == 1 else "The folder")
    try:
        for member in members:
            with member.open() as content:
                storage.save_file(f"{prefix}/{member.path}", _Counted(content, written, member.size))
    except Exception:
        storage.delete_prefix(prefix)
        raise
    return [str(m.path) for m in members]


class _Written:
    """Bytes actually written so far, against MAX_UPLOAD_BYTES: what an archive declares may not be what it expands
    to."""

    def __init__(self, *, where: str):
        self.where, self.total = where, 0

    def add(self, count: int) -> None:
        self.total += count
        cap = storage.max_upload_bytes()
        if self.total > cap:
            raise ValidationError({"files": f"{self.where} expands to more than {storage.human_size(cap)}, the "
                                            "limit; it was refused."})


class _Counted:
    """A member's content, read through the running count (no seek, so storage reads it once from the start)."""

    def __init__(self, handle: IO[bytes], written: _Written, size: int):
        self.handle, self.written, self.size = handle, written, size

    @property
    def closed(self) -> bool:
        return bool(getattr(self.handle, "closed", False))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        if size is not None and size >= 0:
            data = self.handle.read(size)
            self.written.add(len(data))
            return data
        parts = []
        while chunk := self.read(_CHUNK):
            parts.append(chunk)
        return b"".join(parts)


def _folder_members(files: list[UploadedFile], relative_paths: list[str] | None) -> list[Member]:
    """A folder from `<input webkitdirectory>`: browsers send bare names; the page sends each file's relative path
    alongside (in the same order). Without them the files are taken as a flat folder."""
    paths = [p for p in (relative_paths or []) if p]
    if paths and len(paths) != len(files):
        raise ValidationError({"files": f"{len(files)} files came with {len(paths)} folder paths; choose the folder "
                                        "again."})
    names = paths or [f.name or "" for f in files]
    total = sum(f.size or 0 for f in files)
    if total > storage.max_upload_bytes():
        raise ValidationError({"files": f"The folder is {storage.human_size(total)}; the limit is "
                                        f"{storage.human_size(storage.max_upload_bytes())}."})
    if paths and any(PurePosixPath(p.replace("\\", "/")).name != PurePosixPath(f.name or "").name
                     for p, f in zip(paths, files)):
        raise ValidationError({"files": "The folder paths do not match the files; choose the folder again."})
    return [Member(_safe(name, "The folder"), f.size or 0, _reopen(f)) for name, f in zip(names, files)]


def _reopen(upload: UploadedFile) -> Callable[[], IO[bytes]]:
    def opened():
        upload.seek(0)
        return _NotClosing(upload)
    return opened


class _NotClosing:
    """The uploaded file stays open for Django to clean up; `with` only rewinds it."""

    def __init__(self, upload: UploadedFile):
        self.upload = upload

    def __enter__(self):
        return self.upload

    def __exit__(self, *exc):
        self.upload.seek(0)
        return False


def _archive_members(upload: UploadedFile) -> list[Member]:
    name = upload.name or "archive"
    if name.lower().endswith(".zip"):
        return _zip_members(upload, name)
    return _tar_members(upload, name)


def _zip_members(upload: UploadedFile, name: str) -> list[Member]:
    try:
        archive = storage.open_zip(upload, where=name)
    except ValidationError as error:
        raise ValidationError({"files": error.messages}) from None
    members = []
    infos = [info for info in archive.infolist() if not info.is_dir()]
    _check_count(len(infos), name)
    for info in infos:
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded no Unix file type
        if kind and kind != stat.S_IFREG:
            raise ValidationError({"files": f"{name}: “{info.filename}” is a link or a special file; only plain "
                                            "files are accepted."})
        if info.compress_size and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO:
            raise ValidationError({"files": f"{name}: {info.filename} is compressed suspiciously well (a zip "
                                            "bomb?); refused."})
        members.append(Member(_safe(info.filename, name), info.file_size,
                              lambda info=info: archive.open(info)))
    return members


def _tar_members(upload: UploadedFile, name: str) -> list[Member]:
    _check_gzip_expansion(upload, name)
    try:
        archive = tarfile.open(fileobj=upload, mode="r:gz")
        infos = []
        for info in archive:  # streamed: a header at a time, nothing extracted
            if info.isdir():
                continue
            if info.issparse():  # its declared size is written out of a few bytes of archive: a bomb
                raise ValidationError({"files": f"{name}: “{info.name}” is a sparse file; only plain files are "
                                                "accepted (archive it without --sparse)."})
            if not info.isreg():
                kind = "a link" if info.issym() or info.islnk() else "a special file"
                raise ValidationError({"files": f"{name}: “{info.name}” is {kind}; only plain files are accepted."})
            infos.append(info)
            _check_count(len(infos), name)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise ValidationError({"files": f"{name} is not a valid .tar.gz archive ({error})."}) from None
    return [Member(_safe(info.name, name), info.size, lambda info=info: _tar_file(archive, info)) for info in infos]


def _tar_file(archive: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    handle = archive.extractfile(info)
    if handle is None:
        raise ValidationError({"files": f"{info.name} cannot be read from the archive."})
    return handle


def _check_gzip_expansion(upload: UploadedFile, name: str) -> None:
    """Counts the expanded size before anything is listed: a gzip bomb is refused while it is counted."""
    cap = storage.max_upload_bytes()
    total = 0
    upload.seek(0)
    try:
        with gzip.GzipFile(fileobj=upload, mode="rb") as handle:
            while chunk := handle.read(_CHUNK):
                total += len(chunk)
                if total > cap:
                    raise ValidationError({"files": f"{name} expands to more than {storage.human_size(cap)}, the "
                                                    "limit; it was refused (an archive bomb?)."})
    except (OSError, EOFError, zlib.error) as error:
        raise ValidationError({"files": f"{name} is not a valid .tar.gz archive ({error})."}) from None
    finally:
        upload.seek(0)
    compressed = upload.size or 1
    if total > 1024 * 1024 and total / compressed > MAX_COMPRESSION_RATIO:
        raise ValidationError({"files": f"{name} is compressed suspiciously well (an archive bomb?); refused."})


def _check_count(count: int, name: str) -> None:
    if count > MAX_FILES:
        raise ValidationError({"files": f"{name} holds more than {MAX_FILES} files; a saved model has a handful."})


def _safe(name: str, where: str) -> PurePosixPath:
    try:
        return storage.safe_relative_path(name, where=where)
    except ValidationError as error:
        raise ValidationError({"files": error.messages}) from None


def _skipped(path: PurePosixPath) -> bool:
    return path.parts[0] == "__MACOSX" or any(part.startswith(".") for part in path.parts)


def _checked(members: list[Member], *, where: str) -> list[Member]:
    """Junk skipped, one top folder flattened, kinds, size and the files a model needs checked."""
    members = [m for m in members if not _skipped(m.path)]
    if not members:
        raise ValidationError({"files": f"{where} holds no files."})
    _check_count(len(members), where)
    total = sum(m.size for m in members)
    if total > storage.max_upload_bytes():
        raise ValidationError({"files": f"{where} expands to {storage.human_size(total)}; the limit is "
                                        f"{storage.human_size(storage.max_upload_bytes())}."})
    tops = {m.path.parts[0] for m in members}
    if len(tops) == 1 and all(len(m.path.parts) > 1 for m in members):
        members = [Member(PurePosixPath(*m.path.parts[1:]), m.size, m.open) for m in members]
    unexpected = sorted(str(m.path) for m in members if m.path.suffix.lower() not in ALLOWED_SUFFIXES)
    if unexpected:
        shown = ", ".join(unexpected[:5]) + (f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else "")
        raise ValidationError({"files": f"{where} holds files a saved Hugging Face model does not have: {shown}. "
                                        "Only configuration and tokenizer files (.json, .txt, .model) and weights "
                                        "(.safetensors, .bin) are accepted; model code is never run."})
    if len({m.path for m in members}) != len(members):
        raise ValidationError({"files": f"{where} holds two files with the same path."})
    folded = [str(m.path).casefold() for m in members]
    if len(set(folded)) != len(folded):
        clash = sorted(str(m.path) for m in members if folded.count(str(m.path).casefold()) > 1)
        raise ValidationError({"files": f"{where} holds files whose names differ only in case ({', '.join(clash[:4])});"
                                        " they would overwrite each other on some storage. Keep one of each."})
    if any(str(m.path) == SIDECAR for m in members):
        raise ValidationError({"files": f"{where} holds {SIDECAR}, which this server writes itself from the model's "
                                        "settings (class map, tokenizer); remove it and set those in the form."})
    _check_complete(members, where)
    return members


def _check_complete(members: list[Member], where: str) -> None:
    root = {str(m.path) for m in members if len(m.path.parts) == 1}
    if "config.json" not in root:
        deeper = sorted((m.path for m in members if m.path.name == "config.json"), key=lambda p: (len(p.parts), p))
        if deeper:
            # Most often the parent folder was zipped: name the folder to give instead.
            raise ValidationError({"files": f"{where} has no config.json at its top; it found {deeper[0]}: give "
                                            f"that folder ({deeper[0].parent}) itself, the one written by "
                                            "model.save_pretrained(folder)."})
        raise ValidationError({"files": f"{where} has no config.json at its top: give the folder written by "
                                        "model.save_pretrained(folder)."})
    if not any(name.endswith(WEIGHT_SUFFIXES) for name in root):
        raise ValidationError({"files": f"{where} has no weights (model.safetensors or pytorch_model.bin) beside "
                                        "its config.json."})
    if not root & set(TOKENIZER_FILES):
        raise ValidationError({"files": f"{where} has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, …): "
                                        "save the tokenizer into the same folder with "
                                        "tokenizer.save_pretrained(folder)."})
