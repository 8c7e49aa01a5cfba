"""expertise: a support-desk answer engine that adapts to the caller's technical expertise.

The public API, imported lazily so that ``import expertise`` costs nothing::

    from expertise import Engine, score_file

    engine = Engine()                                  # models/current, bundled knowledge base
    answer = engine.answer("the box with the lights has gone orange")
    answer.level, answer.confidence, answer.article.id

    report = score_file("tickets.csv", jobs=2)       # -> tickets.scored.csv

Everything else is internal and may change; the command line (`expertise --help`) is the
other stable contract.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from expertise.config import __version__

if TYPE_CHECKING:
    from expertise.batch.run import score_file
    from expertise.engine import Answer, Engine
    from expertise.errors import ExpertiseError
    from expertise.privacy import redact
    from expertise.store.db import Store

__all__ = ["Answer", "Engine", "ExpertiseError", "Store", "__version__", "redact", "score_file"]

_WHERE = {
    "Answer": "expertise.engine", "Engine": "expertise.engine",
    "ExpertiseError": "expertise.errors", "Store": "expertise.store.db",
    "redact": "expertise.privacy", "score_file": "expertise.batch.run",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'expertise' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
