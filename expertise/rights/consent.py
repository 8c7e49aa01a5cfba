"""Consent: a customer's choice about personalised answers, recorded and audited.

An opted-out customer is not profiled: their history is not read, no level is estimated or
stored for them, the agent gets the neutral (intermediate) article with the other levels
offered, and their tickets are left out of training (`Store.training_exclusions`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from expertise.errors import InputError

if TYPE_CHECKING:
    from expertise.store.db import Store

__all__ = ["ConsentChange", "set_consent"]


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
    """Record a customer's choice about personalisation (what an opt-out means: see the
    module), and audit it. A customer the store does not know yet is created, so that an
    opt-out given before their first ticket is honoured.
    """
    if not customer_id or not customer_id.strip():
        raise InputError("--customer is empty; give the customer's id")
    before = store.customer(customer_id)
    consent = "opted_out" if opted_out else "granted"
    store.set_consent(customer_id, consent)
    change = ConsentChange(customer_id, consent, before.consent if before else None)
    store.audit(actor, "consent", customer_id=customer_id, purpose=purpose,
                detail=f"{change.previous or 'new customer'} -> {consent}")
    return change
