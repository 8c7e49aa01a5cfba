"""Erasure: forget a customer in the store and name the model versions that learned from them.

The store's part (tickets, feedback, profile, audit rows, and overwriting the freed bytes) is
`Store.forget`; this module adds the models' part from the bundles' keyed customer
fingerprints (`expertise.bundles.fingerprints`), read with the key kept in the models folder.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise.bundles.fingerprints import (
    hash_customer,
    legacy_hash_customer,
    legacy_salt_path,
    read_salt,
    salt_id,
    salt_path,
)
from expertise.bundles.registry import list_bundles
from expertise.config import models_dir

if TYPE_CHECKING:
    from expertise.store.db import Store

__all__ = ["OUTSIDE_STORE", "Erasure", "ModelUse", "forget_customer", "models_trained_on"]

#: What erasure cannot reach: the files the tool wrote earlier are the operator's to delete.
OUTSIDE_STORE = ("Not erased: copies outside the store, in files written earlier (score "
                 "outputs, rejects files) and in exports; find and delete them separately.")


@dataclass(frozen=True)
class ModelUse:
    """Model versions whose training data included a customer.

    ``unverifiable`` lists versions this install cannot check: fingerprinted with another
    models folder's key (or before fingerprints existed), or with a key it cannot read;
    ``note`` then says why. A version is never reported as not trained on the customer
    unless its fingerprints were checked.
    """

    trained_on: list[str] = field(default_factory=list)
    unverifiable: list[str] = field(default_factory=list)
    note: str | None = None


def models_trained_on(
    customer_id: str, *, root: Path | None = None, salt: str | None = None
) -> ModelUse:
    """The bundles under ``root`` (default: the models folder) that learned from a customer.

    Reads only the manifests (nothing is unpickled) and the folder's fingerprint key, which it
    never creates: without it no bundle can have been fingerprinted with it, so those bundles
    are unverifiable. Bundles fingerprinted by earlier versions, with the salt of the user who
    trained them, are checked with that salt when this user has it.
    """
    root = Path(root or models_dir())
    note = None
    if salt is None:
        path = salt_path(root)
        try:
            salt = read_salt(path)
        except OSError as exc:
            note = (f"cannot read the fingerprint key {path} ({exc.strerror or exc}); run "
                    "`expertise forget` as a user who can read the models folder's key, or ask "
                    "its owner to make it readable to your group (chmod g+r)")
    legacy = None
    with contextlib.suppress(OSError):
        legacy = read_salt(legacy_salt_path())
    keys = {salt_id(salt): hash_customer(customer_id, salt)} if salt else {}
    if legacy:
        keys.setdefault(salt_id(legacy), legacy_hash_customer(customer_id, legacy))
    use = ModelUse(note=note)
    for manifest in list_bundles(root):
        version = str(manifest.get("version", "?"))
        customers = manifest.get("customers") or {}
        wanted = keys.get(str(customers.get("salt_id")))
        if wanted is None:
            use.unverifiable.append(version)
        elif wanted in set(customers.get("hashes") or ()):
            use.trained_on.append(version)
    return use


@dataclass(frozen=True)
class Erasure:
    """What :func:`forget_customer` removed, and the model versions that must be retrained.

    Holds no customer id.
    """

    tickets_deleted: int
    feedback_deleted: int
    audit_rows_anonymised: int
    models: ModelUse
    #: Whether the store held a customer record (False for one known only from the audit
    #: log, an export or a model's training data: then only the erasure is recorded).
    customer_deleted: bool = True
    #: Whether the freed bytes were overwritten in the database file; if not, ``warning``
    #: says why and what to do.
    purged: bool = True
    warning: str | None = None
    #: What the erasure did not reach (:data:`OUTSIDE_STORE`).
    outside_store: str = OUTSIDE_STORE

    def to_dict(self) -> dict[str, Any]:
        return {
            "erased": True,
            "purged": self.purged,
            "warning": self.warning,
            "outside_store": self.outside_store,
            "tickets_deleted": self.tickets_deleted,
            "feedback_deleted": self.feedback_deleted,
            "audit_rows_anonymised": self.audit_rows_anonymised,
            "customer_deleted": self.customer_deleted,
            "models_trained_on": list(self.models.trained_on),
            "models_unverifiable": list(self.models.unverifiable),
            "models_note": self.models.note,
        }


def forget_customer(
    store: Store,
    customer_id: str,
    *,
    actor: str | None = None,
    models_root: Path | None = None,
    purge_wait: float | None = None,
    even_if_unknown: bool = False,
) -> Erasure:
    """Erase a customer from the store in one transaction and list the models that learned
    from them.

    The audit log keeps one ``erasure`` row naming nobody; the customer's earlier audit rows
    lose their customer id. Later ingests skip the customer, and :meth:`Store.training_frame`
    has nothing of theirs left, so the next retrain excludes them. ``purged`` is False (and
    ``warning`` says why) when another connection kept the freed bytes from being overwritten
    in the database file within ``purge_wait`` seconds (default `Store.forget`'s).

    A customer the store holds nothing about is erased all the same when a model version
    learned from them (their tickets came from an export), or with ``even_if_unknown``: the
    erasure record keeps them out of later ingests and of retraining from any export.

    Raises
    ------
    UnknownCustomerError
        If the customer was erased here before, or the store, the models and
        ``even_if_unknown`` give no reason to record an erasure.
    """
    models = models_trained_on(customer_id, root=models_root)
    unknown_ok = even_if_unknown or bool(models.trained_on)
    report = (store.forget(customer_id, actor=actor, unknown_ok=unknown_ok)
              if purge_wait is None else
              store.forget(customer_id, actor=actor, purge_wait=purge_wait,
                           unknown_ok=unknown_ok))
    return Erasure(
        tickets_deleted=report.tickets_deleted,
        feedback_deleted=report.feedback_deleted,
        audit_rows_anonymised=report.audit_rows_anonymised,
        models=models,
        customer_deleted=report.customer_deleted,
        purged=report.purged,
        warning=report.purge_warning,
    )
