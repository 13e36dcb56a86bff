"""Files kept by their SHA-256: issued PDFs and delivery proofs (SPEC §6).

Invariants: a stored file lives at ``ARREARS_DATA_DIR/files/ab/cd/<sha256>`` and is
never overwritten (the name is the content's hash, written to a temporary name and
renamed into place); its ``stored_files`` row is written once, in the caller's
transaction. Uploads are checked by their content, not by their name.
"""
import hashlib
import os

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import StoredFile
from .errors import NotFound, ServiceError

# Proof files a delivery may carry, recognised by their first bytes.
SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"%PDF-", "application/pdf", ".pdf"),
)
EXTENSIONS = {content_type: extension for _, content_type, extension in SIGNATURES}


class UploadRefused(ServiceError):
    """An upload is empty, too large, or not a JPEG, PNG or PDF. ``code`` (``empty``,
    ``too_large``, ``wrong_type``) and ``values`` let a screen say it in its language."""

    def __init__(self, message, code, **values):
        super().__init__(message, **values)
        self.code = code
        self.values = values


def sniff(data):
    """The content type of ``data`` by its first bytes (JPEG, PNG, PDF), or None."""
    for magic, content_type, _ in SIGNATURES:
        if data.startswith(magic):
            return content_type
    return None


def check_upload(filename, data, max_bytes):
    """The content type of an acceptable proof file; raises ``UploadRefused`` saying why not."""
    name = filename or "the file"
    if not data:
        raise UploadRefused("%(name)s is empty", "empty", name=name)
    if len(data) > max_bytes:
        size, limit = f"{len(data) / 1048576:.1f}", f"{max_bytes / 1048576:.0f}"
        raise UploadRefused("%(name)s is %(size)s MB; the limit is %(limit)s MB", "too_large", name=name, size=size,
                            limit=limit)
    content_type = sniff(data)
    if content_type is None:
        raise UploadRefused("%(name)s is not a JPEG, PNG or PDF file (checked by its content, not its name)",
                            "wrong_type", name=name)
    return content_type


def _root():
    return os.path.join(current_app.config["ARREARS_DATA_DIR"], "files")


def path_of(sha256):
    return os.path.join(_root(), sha256[:2], sha256[2:4], sha256)


def store_file(data, content_type):
    """Keep ``data``; returns its SHA-256. Storing the same content twice keeps one copy."""
    digest = hashlib.sha256(data).hexdigest()
    path = path_of(digest)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.part"
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    known = db.session.execute(select(StoredFile.sha256).where(StoredFile.sha256 == digest)).scalar_one_or_none()
    if known is None:
        db.session.add(StoredFile(sha256=digest, bytes=len(data), content_type=content_type))
        db.session.flush()
    return digest


def store_path(source, content_type):
    """Keep the file at ``source`` (moved, not copied into memory); returns its SHA-256.
    For large files such as a batch's print file."""
    digest = hashlib.sha256()
    size = 0
    with open(source, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    digest = digest.hexdigest()
    path = path_of(digest)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.remove(source)
    else:
        os.replace(source, path)
    known = db.session.execute(select(StoredFile.sha256).where(StoredFile.sha256 == digest)).scalar_one_or_none()
    if known is None:
        db.session.add(StoredFile(sha256=digest, bytes=size, content_type=content_type))
        db.session.flush()
    return digest


def read_file(sha256):
    """The stored bytes; raises ``NotFound`` when the file is missing from the disk."""
    try:
        with open(path_of(sha256), "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise NotFound("stored file %(file)s… is missing from %(folder)s", file=sha256[:16], folder=_root()) from None
