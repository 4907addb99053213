"""`erp:host/storage`: the component's durable state and its secrets.

* Values are versioned: `put` is a compare-and-swap on the stored version
  (`expected = None`: the key must not exist yet), done inside one
  `BEGIN IMMEDIATE` transaction so two writers cannot both win; the loser
  gets `conflict`.
* Secrets are encrypted at rest with ChaCha20-Poly1305 (the `cryptography`
  package), a fresh 96-bit nonce per write and the secret's name as
  associated data (a ciphertext cannot be moved to another name). The key
  comes from `EMAIL_LOGGING_KEY` (32 bytes, base64), else from the file
  `secret.key` in the data directory, created with mode 0600 when missing.
  The key never enters the database; secret values are never logged.
"""

from __future__ import annotations

import base64
import binascii
import os
import sqlite3
from pathlib import Path
from typing import Any, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .crm import _db_error
from .db import transaction
from .wit import HostError, rec

MAX_KEY_LEN = 512
MAX_VALUE_LEN = 64 << 20


def load_key(data_dir: Path) -> bytes:
    """The 32-byte secret key: `EMAIL_LOGGING_KEY` (base64), else `<data_dir>/secret.key` (0600)."""
    env = os.environ.get("EMAIL_LOGGING_KEY")
    if env:
        try:
            key = base64.b64decode(env, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("EMAIL_LOGGING_KEY is not base64") from None
        if len(key) != 32:
            raise ValueError("EMAIL_LOGGING_KEY must be 32 bytes, base64-encoded")
        return key
    path = data_dir / "secret.key"
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise ValueError(f"{path} must not be readable by others (chmod 600)")
        key = path.read_bytes()
        if len(key) != 32:
            raise ValueError(f"{path} does not hold a 32-byte key")
        return key
    key = ChaCha20Poly1305.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
        out.flush()
        os.fsync(out.fileno())
    return key


class Storage:
    """The `storage` interface over one SQLite connection and one key."""

    def __init__(self, conn: sqlite3.Connection, key: bytes) -> None:
        self.conn = conn
        self._aead = ChaCha20Poly1305(key)

    @staticmethod
    def _check_key(key: str) -> None:
        if not key or len(key) > MAX_KEY_LEN:
            raise HostError("invalid", f"a key must have 1..{MAX_KEY_LEN} characters")

    def get(self, key: str) -> Optional[Any]:
        """The value and version of `key`, if stored."""
        self._check_key(key)
        try:
            r = self.conn.execute("SELECT value, version FROM plugin_state WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as e:
            raise _db_error(e) from None
        return rec(value=r["value"], version=r["version"]) if r else None

    def put(self, key: str, value: str, expected: Optional[int]) -> int:
        """Writes `value` if the stored version is `expected`; the new version."""
        self._check_key(key)
        if len(value) > MAX_VALUE_LEN:
            raise HostError("invalid", "the value is too large")
        try:
            with transaction(self.conn) as db:
                r = db.execute("SELECT version FROM plugin_state WHERE key = ?", (key,)).fetchone()
                current = r["version"] if r else None
                if current != expected:
                    raise HostError(
                        "conflict", f"'{key}' is at version {current}, not {expected}"
                    )
                new = (current or 0) + 1
                db.execute(
                    "INSERT INTO plugin_state (key, value, version) VALUES (?, ?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = excluded.version",
                    (key, value, new),
                )
                return new
        except sqlite3.Error as e:
            raise _db_error(e) from None

    def remove(self, key: str) -> None:
        """Removes `key`; a missing key is no error."""
        try:
            with transaction(self.conn) as db:
                db.execute("DELETE FROM plugin_state WHERE key = ?", (key,))
        except sqlite3.Error as e:
            raise _db_error(e) from None

    def get_secret(self, name: str) -> Optional[str]:
        """The secret `name`, decrypted, if stored."""
        self._check_key(name)
        try:
            r = self.conn.execute("SELECT nonce, ciphertext FROM plugin_secret WHERE name = ?", (name,)).fetchone()
        except sqlite3.Error as e:
            raise _db_error(e) from None
        if r is None:
            return None
        try:
            plain = self._aead.decrypt(bytes(r["nonce"]), bytes(r["ciphertext"]), name.encode())
        except InvalidTag:
            raise HostError("internal", f"the secret '{name}' cannot be decrypted with this key") from None
        return plain.decode("utf-8")

    def put_secret(self, name: str, value: str) -> None:
        """Stores the secret `name`, encrypted."""
        self._check_key(name)
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), name.encode())
        try:
            with transaction(self.conn) as db:
                db.execute(
                    "INSERT INTO plugin_secret (name, nonce, ciphertext) VALUES (?, ?, ?)"
                    " ON CONFLICT(name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext",
                    (name, nonce, sealed),
                )
        except sqlite3.Error as e:
            raise _db_error(e) from None

    def remove_secret(self, name: str) -> None:
        """Removes the secret `name`; a missing one is no error."""
        try:
            with transaction(self.conn) as db:
                db.execute("DELETE FROM plugin_secret WHERE name = ?", (name,))
        except sqlite3.Error as e:
            raise _db_error(e) from None
