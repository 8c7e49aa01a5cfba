"""Redaction throughput: `expertise.privacy.redact` over the bundled tickets, rows per second.

Run from the repository root::

    python bench/redact_speed.py                           # this checkout
    python bench/redact_speed.py --against old/privacy.py  # and another version, for the ratio

Each ticket is its subject and body joined, as scoring reads it (`data/tickets_train.csv` and
`data/tickets_eval.csv`). The best of ``--repeat`` passes over all of them counts, so that a
busy machine slows a pass down without moving the figure much; versions are timed in turns.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_texts() -> list[str]:
    texts = []
    for name in ("tickets_train.csv", "tickets_eval.csv"):
        with open(ROOT / "data" / name, encoding="utf-8", newline="") as handle:
            texts += [f"{r['subject']}\n\n{r['body']}".strip() for r in csv.DictReader(handle)]
    return texts


def load_redact(path: Path | None) -> Callable[[str], str]:
    if path is None:
        from expertise.privacy import redact

        return redact
    spec = importlib.util.spec_from_file_location(f"privacy_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.redact  # type: ignore[no-any-return]


def best_rate(redact: Callable[[str], str], texts: list[str]) -> float:
    started = time.perf_counter()
    for text in texts:
        redact(text)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", type=Path, help="another privacy.py to compare with")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    texts = load_texts()
    versions = {"this checkout": load_redact(None)}
    if args.against:
        versions[str(args.against)] = load_redact(args.against)
    rates: dict[str, float] = dict.fromkeys(versions, 0.0)
    for _ in range(args.repeat):
        for name, redact in versions.items():
            rates[name] = max(rates[name], best_rate(redact, texts))
    chars = sum(map(len, texts)) / len(texts)
    print(f"{len(texts)} tickets, {chars:.0f} characters on average, best of {args.repeat}")
    for name, rate in rates.items():
        print(f"{name:>40}: {rate:10,.0f} rows/s")
    if args.against:
        ratio = rates["this checkout"] / rates[str(args.against)]
        print(f"{'ratio (this / other)':>40}: {ratio:10.3f}")


if __name__ == "__main__":
    main()
