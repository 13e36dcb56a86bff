"""Encryption at rest for sensitive fields (SPEC §9: ID numbers, hardship reasons).

The key lives in ``ARREARS_DATA_DIR/keys/data.key`` and is made on first use; losing
it makes those fields unreadable, so ``backup`` reminds the office to keep it.
"""
import os

from cryptography.fernet import Fernet
from flask import current_app


def _key_path():
    return os.path.join(current_app.config["ARREARS_DATA_DIR"], "keys", "data.key")


def _fernet():
    path = _key_path()
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(Fernet.generate_key())
    with open(path, "rb") as handle:
        return Fernet(handle.read().strip())


def encrypt_text(plain):
    return _fernet().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt_text(token):
    return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
