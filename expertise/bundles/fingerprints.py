"""Customer fingerprints in bundle manifests: who a model learned from, without their ids.

A bundle records the customers it learned from as salted SHA-256 fingerprints
(``manifest["customers"] = {"salt_id", "hashes"}``). The salt is per install, readable by its
owner only, so a bundle copied elsewhere does not reveal its customers, while this install can
still answer "which model versions learned from this customer?" when the customer asks to be
forgotten (`expertise.rights.erasure`).

>>> salt = "0123456789abcdef"
>>> hash_customer("C00042", salt) == hash_customer("C00042", salt)
True
>>> hash_customer("C00042", salt) == hash_customer("C00042", "another salt")
False
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from expertise import config

__all__ = ["customer_salt", "hash_customer", "salt_id", "salt_path"]


def salt_path() -> Path:
    """The per-install salt file, next to the default database."""
    return config.default_db_path().parent / "salt"


def customer_salt(path: Path | None = None) -> str:
    """The per-install salt (created on first use, readable by its owner only)."""
    path = path or salt_path()
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(16)
    tmp = path.with_name(f".salt.tmp-{os.getpid()}")
    tmp.write_text(salt + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return salt


def salt_id(salt: str) -> str:
    """A short public name for a salt: tells which install fingerprinted a bundle."""
    return hashlib.sha256(salt.encode()).hexdigest()[:12]


def hash_customer(customer_id: str, salt: str) -> str:
    """A salted fingerprint of a customer id: lets a bundle list who it learned from without
    storing the ids themselves."""
    return hashlib.sha256(f"{salt}\x1f{customer_id}".encode()).hexdigest()
