"""Checked file uploads: size limit while streaming, type by content, generated storage names.

Use :func:`save_upload` for any user file that is kept (homework, attachments):

* the stream is copied in chunks and refused as soon as it passes `max_bytes`
  (nothing larger than the limit ever sits on disk, and memory stays flat);
* empty files are refused;
* the type is decided by the file's first bytes (magic numbers) against
  :data:`FILE_TYPES`, and must agree with the extension of the name given,
  so a renamed executable is not a "pdf";
* the file is stored under a generated name (``<32 hex>.<ext>``) in a folder
  under the instance folder, outside the web root; the user's name for it is
  kept only as a display name (:func:`safe_display_name`), never as a path.

Refusals raise :class:`UploadRefused` (a 422 domain error naming the field).
"""
from __future__ import annotations

import os
import re
import unicodedata
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask_babel import gettext as _

from crm.core.errors import Invalid

CHUNK = 64 * 1024
SNIFF_BYTES = 4096
DISPLAY_NAME_MAX = 255
STORAGE_NAME_RE = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]{1,8}$")


class UploadRefused(Invalid):
    """The upload is not acceptable (size, type, name); the message says why."""


def _text(head: bytes) -> bool:
    """Plain UTF-8 text without NUL bytes (the sniffed head may cut a character in two)."""
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as error:
        return error.start >= len(head) - 3  # a multi-byte character cut at the end of the head


def _zip(head: bytes) -> bool:
    return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))


@dataclass(frozen=True)
class FileType:
    """An accepted kind of file: its extensions, MIME type and content check."""

    key: str
    extensions: tuple[str, ...]
    mimetype: str
    sniff: Callable[[bytes], bool]
    office_part: str | None = None  # zip-based Office files: a member that must exist


FILE_TYPES: dict[str, FileType] = {t.key: t for t in (
    FileType("pdf", ("pdf",), "application/pdf", lambda h: h.startswith(b"%PDF-")),
    FileType("png", ("png",), "image/png", lambda h: h.startswith(b"\x89PNG\r\n\x1a\n")),
    FileType("jpg", ("jpg", "jpeg"), "image/jpeg", lambda h: h.startswith(b"\xff\xd8\xff")),
    FileType("gif", ("gif",), "image/gif", lambda h: h.startswith((b"GIF87a", b"GIF89a"))),
    FileType("zip", ("zip",), "application/zip", _zip),
    FileType("docx", ("docx",), "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             _zip, office_part="word/document.xml"),
    FileType("xlsx", ("xlsx",), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             _zip, office_part="xl/workbook.xml"),
    FileType("pptx", ("pptx",), "application/vnd.openxmlformats-officedocument.presentationml.presentation",
             _zip, office_part="ppt/presentation.xml"),
    FileType("txt", ("txt", "md", "py", "go", "sql", "csv"), "text/plain", _text),
)}


@dataclass(frozen=True)
class StoredUpload:
    """A saved upload: the generated storage name, the display name, its size and type."""

    storage_name: str
    display_name: str
    size: int
    file_type: FileType


def safe_display_name(filename: str | None, *, fallback: str = "file") -> str:
    """The user's file name reduced to something safe to show and to send in a header.

    Only the last path part is kept (``../../x`` and ``C:\\x`` give ``x``), control
    characters and NULs are dropped, Unicode is normalised (NFC) and the length capped.
    """
    name = unicodedata.normalize("NFC", filename or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".").strip()
    if not name:
        return fallback
    if len(name) > DISPLAY_NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: DISPLAY_NAME_MAX - len(ext) - 1] + dot + ext) if dot and len(ext) <= 8 else \
            name[:DISPLAY_NAME_MAX]
    return name


def extension_of(name: str) -> str:
    """The lower-case extension of a display name ('' when none)."""
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def allowed_types(keys: Iterable[str]) -> list[FileType]:
    """The FileTypes named by keys (unknown keys are ignored)."""
    return [FILE_TYPES[key] for key in keys if key in FILE_TYPES]


def describe(types: Iterable[FileType]) -> str:
    """'pdf, docx, zip' for messages."""
    return ", ".join(ext for t in types for ext in t.extensions)


def storage_folder(instance_path: str | os.PathLike, name: str) -> Path:
    """A folder for stored uploads under the instance folder (outside the web root), created if missing."""
    folder = Path(instance_path) / "uploads" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_upload(stream: BinaryIO, filename: str | None, *, folder: Path, allowed: Iterable[FileType],
                max_bytes: int, field: str = "file") -> StoredUpload:
    """Stream an upload into `folder` under a generated name after checking size, emptiness and type."""
    types = list(allowed)
    display = safe_display_name(filename)
    ext = extension_of(display)
    matching = [t for t in types if ext in t.extensions]
    if not matching:
        raise UploadRefused(_("This kind of file is not accepted; allowed: %(types)s.", types=describe(types)),
                            field=field)
    file_type = matching[0]
    storage_name = f"{uuid.uuid4().hex}.{ext}"
    target = folder / storage_name
    size, head = 0, b""
    try:
        with open(target, "xb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise UploadRefused(_("The file is larger than %(mb)s MB.", mb=_megabytes(max_bytes)),
                                        field=field)
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                out.write(chunk)
        if size == 0:
            raise UploadRefused(_("The file is empty."), field=field)
        if not file_type.sniff(head) or not _office_ok(file_type, target):
            raise UploadRefused(_("The file's content is not a %(ext)s file.", ext=ext), field=field)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return StoredUpload(storage_name, display, size, file_type)


def _office_ok(file_type: FileType, path: Path) -> bool:
    """A zip upload must be a readable zip; an Office file must hold its main part."""
    if file_type.sniff is not _zip:
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return file_type.office_part is None or file_type.office_part in names


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".rstrip("0").rstrip(".")


def stored_path(folder: Path, storage_name: str | None) -> Path | None:
    """The path of a stored upload, or None when the name is not one we generate or the file is gone."""
    if not storage_name or not STORAGE_NAME_RE.match(storage_name):
        return None
    path = folder / storage_name
    return path if path.is_file() else None


def delete_stored(folder: Path, storage_name: str | None) -> None:
    """Remove a stored upload (quietly, when it is already gone or the name is not ours)."""
    path = stored_path(folder, storage_name)
    if path is not None:
        path.unlink(missing_ok=True)


def mimetype_for(storage_name: str) -> str:
    """The MIME type to serve a stored upload with (by its checked extension)."""
    ext = extension_of(storage_name)
    for file_type in FILE_TYPES.values():
        if ext in file_type.extensions:
            return file_type.mimetype
    return "application/octet-stream"
