"""Customer fingerprints in bundle manifests: who a model learned from, without their ids.

A bundle records the customers it learned from as keyed fingerprints, HMAC-SHA256 of the
customer id under a secret key (``manifest["customers"] = {"salt_id", "hashes"}``;
``salt_id`` names the key, it does not reveal it). The key lives with the models, in the models
folder (:func:`salt_path`: ``customers.key``, created on first use, readable by its owner, and
by the group when the models folder is group-readable), not in a user's home: whoever can
read the models folder can answer "which model versions learned from this customer?" when
the customer asks to be forgotten (`expertise.rights.erasure`).

What the key protects against: a bundle (or a copy of the models folder without the key)
does not let anyone test guesses of customer ids against its fingerprints, however few
possible ids there are. What it does not: anyone who can read the key can test guesses, so
for them a fingerprint of a short or guessable id is as good as the id. Keep the key out of
version control and out of copies of bundles sent elsewhere.

Bundles fingerprinted by earlier versions used a per-user salt and plain SHA-256
(:func:`legacy_hash_customer`); the user who trained them can still check them.

>>> key = "0123456789abcdef" * 4
>>> hash_customer("C00042", key) == hash_customer("C00042", key)
True
>>> hash_customer("C00042", key) == hash_customer("C00042", "another key")
False
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from expertise import config
from expertise.io import key_file, read_key_file

__all__ = [
    "KEY_NAME",
    "customer_salt",
    "hash_customer",
    "legacy_hash_customer",
    "legacy_salt_path",
    "read_salt",
    "salt_id",
    "salt_path",
]

#: The key's file name in the models folder.
KEY_NAME = "customers.key"


def salt_path(root: Path | None = None) -> Path:
    """The fingerprint key of the models folder ``root`` (default: the models folder)."""
    return Path(root or config.models_dir()) / KEY_NAME


def customer_salt(path: Path | None = None) -> str:
    """The fingerprint key (created on first use; see the module's notes on who can read it).

    Training calls it for the models folder the bundle is saved in: ``customer_salt(
    salt_path(out_dir))``.
    """
    path = path or salt_path()
    return key_file(path, share_like=path.parent)


def read_salt(path: Path | None = None) -> str | None:
    """The fingerprint key if there is one (never creates it). Raises OSError (e.g.
    PermissionError) when it exists but cannot be read."""
    return read_key_file(path or salt_path())


def salt_id(salt: str) -> str:
    """A short public name for a key (or a legacy salt): tells which one fingerprinted a
    bundle. A SHA-256 prefix of a 256-bit random key gives nothing of the key away."""
    return hashlib.sha256(salt.encode()).hexdigest()[:12]


def hash_customer(customer_id: str, salt: str) -> str:
    """A customer's keyed fingerprint: HMAC-SHA256 of the id under the key (hex)."""
    return hmac.new(salt.encode(), customer_id.encode("utf-8"), hashlib.sha256).hexdigest()


def legacy_salt_path() -> Path:
    """Where earlier versions kept a per-user salt: next to the user's default database."""
    return config.default_db_path().parent / "salt"


def legacy_hash_customer(customer_id: str, salt: str) -> str:
    """The fingerprint earlier versions wrote: SHA-256 of the salt, a separator and the id.
    Only for checking old bundles; new ones use :func:`hash_customer`."""
    return hashlib.sha256(f"{salt}\x1f{customer_id}".encode()).hexdigest()
