"""The one exception hierarchy. The library raises these; only the CLI prints and exits."""

from __future__ import annotations


class ExpertiseError(Exception):
    """Base class of every error the library raises on purpose."""


class InputError(ExpertiseError):
    """Bad input: a file, row, column or value that cannot be used as given."""


class SchemaError(InputError):
    """An export is missing required columns or has an unknown layout."""


class ReadOptionError(SchemaError):
    """A file that a reading option (``--encoding``, ``--map``) would read; `file_fix` is the
    same message with the fix made to the file, for commands without that option."""

    def __init__(self, message: str, *, file_fix: str) -> None:
        super().__init__(message)
        self.file_fix = file_fix


class KnowledgeBaseError(ExpertiseError):
    """The knowledge base is missing or has invalid articles."""


class ModelNotFoundError(ExpertiseError):
    """No model bundle where one was expected."""


class ArtifactError(ExpertiseError):
    """A model bundle failed verification (hash, version or location)."""


class StoreError(ExpertiseError):
    """The ticket store cannot be opened, migrated or written."""


class UnknownCustomerError(ExpertiseError):
    """A customer id that the store does not know."""


class UnknownTicketError(ExpertiseError):
    """A ticket id that the store does not know."""


class PromotionRefusedError(ExpertiseError):
    """A model that fails the promotion gate (worse than the current one, or not comparable)."""
