"""Erasure: forget a customer in the store and name the model versions that learned from them.

The store's part (tickets, feedback, profile, audit rows) is `Store.forget`; this module adds
the models' part from the bundles' customer fingerprints (`expertise.bundles.fingerprints`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise.bundles.fingerprints import hash_customer, salt_id, salt_path
from expertise.bundles.registry import list_bundles

if TYPE_CHECKING:
    from expertise.store.db import Store

__all__ = ["Erasure", "ModelUse", "forget_customer", "models_trained_on"]


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
    report = store.forget(customer_id, actor=actor)
    return Erasure(
        tickets_deleted=report.tickets_deleted,
        feedback_deleted=report.feedback_deleted,
        audit_rows_anonymised=report.audit_rows_anonymised,
        models=models_trained_on(customer_id, root=models_root),
    )
