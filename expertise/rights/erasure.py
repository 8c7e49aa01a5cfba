"""Trust: customer fingerprints, consent, erasure and the audit trail.

A model bundle records which customers it learned from as salted SHA-256 fingerprints
(``manifest["customers"] = {"salt_id", "hashes"}``). The salt is per install, kept next to the
default database and readable by its owner only, so a bundle copied elsewhere does not reveal
its customers, while this install can still answer "which model versions learned from this
customer?" when the customer asks to be forgotten.

The functions here combine a :class:`~expertise.store.db.Store` operation with its audit row, so
the CLI and the live session record the same facts. This module imports only the standard
library at start-up.

>>> salt = "0123456789abcdef"
>>> hash_customer("C00042", salt) == hash_customer("C00042", salt)
True
>>> hash_customer("C00042", salt) == hash_customer("C00042", "another salt")
False
"""

from __future__ import annotations

import getpass
import hashlib
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise import config
from expertise.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from expertise.store.db import Store

__all__ = [
    "ConsentChange",
    "Erasure",
    "ModelUse",
    "current_actor",
    "customer_salt",
    "exclude_from_training",
    "excluded_customers",
    "forget_customer",
    "hash_customer",
    "models_trained_on",
    "salt_id",
    "salt_path",
    "set_consent",
]


# ---------------------------------------------------------------------------------------------
# Salt and fingerprints
# ---------------------------------------------------------------------------------------------


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


def current_actor() -> str:
    """The login name, for audit rows when no ``--agent`` is given."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


# ---------------------------------------------------------------------------------------------
# Which model versions learned from a customer
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelUse:
    """Model versions whose training data included a customer.

    ``unverifiable`` lists versions fingerprinted with another install's salt (or before
    fingerprints existed): this install cannot tell whether they learned from the customer.
    """

    trained_on: list[str] = field(default_factory=list)
    unverifiable: list[str] = field(default_factory=list)


def models_trained_on(
    customer_id: str, *, root: Path | None = None, salt: str | None = None
) -> ModelUse:
    """The bundles under ``root`` (default: the models folder) that learned from a customer.

    Reads only the manifests (nothing is unpickled). Without a salt on this install no bundle
    can have been fingerprinted here, so every bundle is reported as unverifiable.
    """
    from expertise.bundles.format import list_bundles

    if salt is None:
        path = salt_path()
        salt = path.read_text(encoding="utf-8").strip() if path.exists() else None
    use = ModelUse()
    wanted = hash_customer(customer_id, salt) if salt else ""
    for manifest in list_bundles(root):
        version = str(manifest.get("version", "?"))
        customers = manifest.get("customers") or {}
        if not salt or customers.get("salt_id") != salt_id(salt):
            use.unverifiable.append(version)
        elif wanted in set(customers.get("hashes") or ()):
            use.trained_on.append(version)
    return use


# ---------------------------------------------------------------------------------------------
# Consent
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentChange:
    """The outcome of :func:`set_consent`. ``previous`` is None for a customer new to the store."""

    customer_id: str
    consent: str
    previous: str | None

    @property
    def changed(self) -> bool:
        return self.previous != self.consent

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changed": self.changed}


def set_consent(
    store: Store,
    customer_id: str,
    *,
    opted_out: bool,
    actor: str | None = None,
    purpose: str | None = None,
) -> ConsentChange:
    """Record a customer's choice about personalisation, and audit it.

    An opted-out customer is not profiled: their history is not read, no level is estimated
    or stored for them, the agent gets the neutral (intermediate) article with the other
    levels offered, and their tickets are left out of training. A customer the store does
    not know yet is created, so that an opt-out given before their first ticket is honoured.
    """
    if not customer_id or not customer_id.strip():
        raise InputError("--customer is empty; give the customer's id")
    before = store.customer(customer_id)
    consent = "opted_out" if opted_out else "granted"
    store.set_consent(customer_id, consent)
    change = ConsentChange(customer_id, consent, before.consent if before else None)
    store.audit(actor or current_actor(), "consent", customer_id=customer_id, purpose=purpose,
                detail=f"{change.previous or 'new customer'} -> {consent}")
    return change


# ---------------------------------------------------------------------------------------------
# Erasure
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erasure:
    """What :func:`forget_customer` removed, and the model versions that must be retrained.

    Holds no customer id.
    """

    tickets_deleted: int
    feedback_deleted: int
    audit_rows_anonymised: int
    models: ModelUse

    def to_dict(self) -> dict[str, Any]:
        return {
            "erased": True,
            "tickets_deleted": self.tickets_deleted,
            "feedback_deleted": self.feedback_deleted,
            "audit_rows_anonymised": self.audit_rows_anonymised,
            "models_trained_on": list(self.models.trained_on),
            "models_unverifiable": list(self.models.unverifiable),
        }


def forget_customer(
    store: Store,
    customer_id: str,
    *,
    actor: str | None = None,
    models_root: Path | None = None,
) -> Erasure:
    """Erase a customer from the store in one transaction and list the models that learned
    from them.

    The audit log keeps one ``erasure`` row naming nobody; the customer's earlier audit rows
    lose their customer id. Later ingests skip the customer, and :meth:`Store.training_frame`
    has nothing of theirs left, so the next retrain excludes them.

    Raises
    ------
    UnknownCustomerError
        If the store holds nothing about the customer.
    """
    report = store.forget(customer_id, actor=actor or current_actor())
    return Erasure(
        tickets_deleted=report.tickets_deleted,
        feedback_deleted=report.feedback_deleted,
        audit_rows_anonymised=report.audit_rows_anonymised,
        models=models_trained_on(customer_id, root=models_root),
    )


# ---------------------------------------------------------------------------------------------
# Training exclusions
# ---------------------------------------------------------------------------------------------


def excluded_customers(store: Store) -> set[str]:
    """Customer ids that must not be trained on: those who opted out.

    Erased customers are excluded too, but the store no longer knows their ids (only salted
    hashes): :meth:`Store.training_frame` has none of their tickets left, and
    :func:`exclude_from_training` recognises them in an external export.
    """
    return store.opted_out_customers()


def exclude_from_training(frame: pd.DataFrame, store: Store) -> pd.DataFrame:
    """Drop the rows of opted-out and erased customers from a training frame (e.g. an export
    read directly with :func:`expertise.modeling.fit.read_labelled`); anonymous rows are kept."""
    if "customer_id" not in frame.columns or not len(frame):
        return frame
    opted_out = store.opted_out_customers()
    erased = set(store.erased_hashes())
    ids = frame["customer_id"].fillna("").astype(str)
    bad = {
        c for c in ids.unique()
        if c and (c in opted_out or (erased and store.hash_customer(c) in erased))
    }  # fmt: skip
    if not bad:
        return frame
    return frame[~ids.isin(bad)].reset_index(drop=True)
