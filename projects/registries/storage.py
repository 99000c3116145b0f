"""Files in Django storage (a local folder, or S3 when AWS_STORAGE_BUCKET_NAME is set): model folders, safe zips."""
from __future__ import annotations

import contextlib
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage

# A zip bomb is refused before anything is written: too many members, or members expanding far beyond their size.
MAX_ZIP_MEMBERS = 2000
MAX_COMPRESSION_RATIO = 200
# A zip's central directory is read whole when it is opened: 2000 entries with long names take well under 1 MB.
MAX_ZIP_DIRECTORY_BYTES = 4 * 1024 * 1024


def max_upload_bytes() -> int:
    return int(settings.MAX_UPLOAD_BYTES)


def human_size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n_bytes} bytes"


def safe_relative_path(name: str, *, where: str) -> PurePosixPath:
    """A relative POSIX path with no `..`, no absolute root and no drive letter; anything else is refused."""
    cleaned = name.replace("\\", "/")
    path = PurePosixPath(cleaned)
    if not cleaned or cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":"):
        raise ValidationError(f"{where}: “{name}” is an absolute path; only relative paths are accepted.")
    if any(part in ("..", "") for part in cleaned.rstrip("/").split("/")):
        raise ValidationError(f"{where}: “{name}” leaves its folder (`..`); it was refused.")
    return path


def save_file(name: str, content: IO[bytes]) -> str:
    """Saves under exactly `name` (callers use fresh prefixes); a renamed file would break the model's own paths."""
    saved = default_storage.save(name, File(content, name=PurePosixPath(name).name))
    if saved != name:
        default_storage.delete(saved)
        raise ValidationError(f"Storage renamed {name} to {saved}; use simple file names (letters, digits, . _ -).")
    return saved


def list_files(prefix: str) -> list[str]:
    """Every file name under `prefix` (recursive), relative to it, in POSIX form."""
    found: list[str] = []
    pending = [""]
    while pending:
        relative = pending.pop()
        folders, files = default_storage.listdir(f"{prefix}/{relative}".rstrip("/"))
        found.extend(f"{relative}{name}" for name in files)
        pending.extend(f"{relative}{folder}/" for folder in folders)
    return sorted(found)


def download_prefix(prefix: str, dest: Path) -> list[Path]:
    """Copies every file under a storage prefix into `dest`, keeping the folder layout."""
    written = []
    for relative in list_files(prefix):
        target = dest / safe_relative_path(relative, where="Stored model")
        target.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(f"{prefix}/{relative}", "rb") as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink)
        written.append(target)
    return written


def delete_prefix(prefix: str) -> None:
    for relative in list_files(prefix):
        default_storage.delete(f"{prefix}/{relative}")


@contextlib.contextmanager
def local_path(name: str) -> Iterator[Path]:
    """A local file for a stored name: the file itself on disk storage, a temporary download on S3."""
    try:
        yield Path(default_storage.path(name))
        return
    except NotImplementedError:
        pass
    suffix = "".join(PurePosixPath(name).suffixes[-2:])  # keep .csv.gz so the loader sees the format
    with tempfile.TemporaryDirectory(prefix="rime-dl-") as folder:
        target = Path(folder) / f"data{suffix}"
        with default_storage.open(name, "rb") as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink)
        yield target


def open_zip(upload: IO[bytes], *, where: str) -> zipfile.ZipFile:
    """The zip, opened only after its end record is read: an entry count above MAX_ZIP_MEMBERS or a central directory
    above MAX_ZIP_DIRECTORY_BYTES is refused before zipfile parses the directory (which costs time and memory in
    proportion to it, whatever the count check says afterwards)."""
    try:
        upload.seek(0)
        end = zipfile._EndRecData(upload)  # the end-of-central-directory record (zip64 too); reads only the tail
    except (OSError, EOFError, struct.error):
        end = None
    if not end:
        raise ValidationError(f"{where} is not a valid zip file.")
    entries, directory = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > MAX_ZIP_MEMBERS:
        raise ValidationError(f"{where} holds {entries} files; at most {MAX_ZIP_MEMBERS} are accepted.")
    if directory > MAX_ZIP_DIRECTORY_BYTES:
        raise ValidationError(f"{where} has a {human_size(directory)} file list; at most "
                              f"{human_size(MAX_ZIP_DIRECTORY_BYTES)} is accepted (a zip bomb?).")
    try:
        upload.seek(0)
        return zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error):
        raise ValidationError(f"{where} is not a valid zip file.") from None


@dataclass(frozen=True)
class ZipMember:
    path: PurePosixPath
    info: zipfile.ZipInfo


def zip_members(archive: zipfile.ZipFile, *, where: str) -> list[ZipMember]:
    """The files of a zip, checked: relative paths only, member count and expanded size capped, junk skipped."""
    infos = [info for info in archive.infolist() if not info.is_dir()]
    if len(infos) > MAX_ZIP_MEMBERS:
        raise ValidationError(f"{where} holds {len(infos)} files; at most {MAX_ZIP_MEMBERS} are accepted.")
    total = sum(info.file_size for info in infos)
    if total > max_upload_bytes():
        raise ValidationError(f"{where} expands to {human_size(total)}; the limit is {human_size(max_upload_bytes())}.")
    members = []
    for info in infos:
        path = safe_relative_path(info.filename, where=where)
        if path.parts[0] == "__MACOSX" or path.name == ".DS_Store":
            continue
        if info.compress_size and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO:
            raise ValidationError(f"{where}: {info.filename} is compressed suspiciously well (a zip bomb?); refused.")
        members.append(ZipMember(path, info))
    if not members:
        raise ValidationError(f"{where} is empty.")
    return _strip_single_top_folder(members)


def _strip_single_top_folder(members: list[ZipMember]) -> list[ZipMember]:
    # "Compress folder" in a file manager puts everything under one top folder; the model lives inside it.
    tops = {member.path.parts[0] for member in members}
    if len(tops) == 1 and all(len(member.path.parts) > 1 for member in members):
        return [ZipMember(PurePosixPath(*member.path.parts[1:]), member.info) for member in members]
    return members
