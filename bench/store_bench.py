"""Store benchmarks: history lookups on a large database, and file ingest throughput.

Run from the repository root::

    python bench/store_bench.py                      # 1,000,000 tickets, 200,000 customers
    python bench/store_bench.py --tickets 100000 --customers 20000 --ingest-rows 50000

Prints one JSON object. ``history`` times ``Store.history(customer, limit=50)`` for random
customers (median, p95, p99 in milliseconds); ``ingest`` times ``Store.ingest_file`` on a
synthetic CSV export (read, validate, redact, upsert).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    from expertise.store.db import Store
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from expertise.store.db import Store

LEVELS = ("novice", "intermediate", "expert")
CHANNELS = ("email", "chat", "web", "phone")
TOPICS = ("no-internet", "slow-broadband", "wifi-dropping", "roaming", "tv-no-signal")
HEAVY_CUSTOMER = "C-heavy"
HEAVY_TICKETS = 5_000
_BODIES = (
    "The box with the flashing lights went orange and nothing loads. I restarted it twice.",
    "Speed test shows 12 Mbps in the evening and 67 Mbps in the morning on Wi-Fi.",
    "Since firmware 4.2.1 the PPPoE session drops; LCP echo timeouts, MTU 1492.",
    "My phone says SOS only abroad although data roaming is on. Call me on 07700 900123.",
    "Netflix buffers on the TV box, other apps fine. Regards,\nSam",
)


def _timestamp(rng: random.Random) -> str:
    seconds = rng.randrange(3 * 365 * 86_400)
    day, rest = divmod(seconds, 86_400)
    year, day = 2022 + day // 365, day % 365
    month, dom = 1 + day // 31 % 12, 1 + day % 28
    return f"{year}-{month:02d}-{dom:02d}T{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"


def _ticket_rows(
    n_tickets: int, n_customers: int, rng: random.Random, now: str
) -> Iterator[tuple[Any, ...]]:
    for i in range(n_tickets):
        customer = HEAVY_CUSTOMER if i < HEAVY_TICKETS else f"C{rng.randrange(n_customers):07d}"
        level = rng.choice(LEVELS)
        yield (
            f"T{i:08d}",
            customer,
            _timestamp(rng),
            rng.choice(CHANNELS),
            "Broadband problem",
            rng.choice(_BODIES),
            level,
            rng.choice(TOPICS),
            None,
            level,
            round(rng.random(), 3),
            "bench",
            now,
        )


def build_store(
    path: Path, n_tickets: int, n_customers: int, *, seed: int = 0, batch: int = 200_000
) -> float:
    """Fill a new store with synthetic tickets using big executemany transactions."""
    rng = random.Random(seed)
    started = time.perf_counter()
    now = "2025-01-01T00:00:00"
    with Store(path) as store:
        conn = store.connection
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO customers(customer_id, first_seen, updated_at) VALUES (?, ?, ?)",
            ((f"C{i:07d}", now, now) for i in range(n_customers)),
        )
        conn.execute(
            "INSERT INTO customers(customer_id, first_seen, updated_at) VALUES (?, ?, ?)",
            (HEAVY_CUSTOMER, now, now),
        )
        conn.execute("COMMIT")
        rows = _ticket_rows(n_tickets, n_customers, rng, now)
        while True:
            chunk = [row for _, row in zip(range(batch), rows, strict=False)]
            if not chunk:
                break
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO tickets(ticket_id, customer_id, created_at, channel, subject, body, "
                "expertise_level, topic, resolved_article_id, predicted_level, "
                "predicted_confidence, source, ingested_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                chunk,
            )
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_history(
    path: Path | str,
    n_tickets: int = 1_000_000,
    n_customers: int = 200_000,
    *,
    queries: int = 2_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Build (if needed) a store of ``n_tickets`` and time one customer's last 50 tickets."""
    path = Path(path)
    build_seconds = None
    if not path.exists():
        build_seconds = build_store(path, n_tickets, n_customers, seed=seed)
    rng = random.Random(seed + 1)
    with Store(path) as store:
        total = store.ticket_count()
        store.history("C0000000", limit=50)  # warm the page cache once
        timings: list[float] = []
        returned = 0
        for _ in range(queries):
            customer = f"C{rng.randrange(n_customers):07d}"
            started = time.perf_counter()
            items = store.history(customer, limit=50)
            timings.append((time.perf_counter() - started) * 1000)
            returned += len(items)
        before: list[float] = []
        for _ in range(queries):
            customer = f"C{rng.randrange(n_customers):07d}"
            started = time.perf_counter()
            store.history(customer, before="2023-06-01T00:00:00", limit=50)
            before.append((time.perf_counter() - started) * 1000)
        heavy: list[float] = []
        for _ in range(200):
            started = time.perf_counter()
            items = store.history(HEAVY_CUSTOMER, limit=50)
            heavy.append((time.perf_counter() - started) * 1000)
        assert len(items) == 50
    return {
        "tickets": total,
        "customers": n_customers,
        "build_seconds": None if build_seconds is None else round(build_seconds, 1),
        "database_mb": round(path.stat().st_size / 1e6, 1),
        "queries": queries,
        "mean_tickets_returned": round(returned / queries, 2),
        "median_ms": round(statistics.median(timings), 3),
        "p95_ms": round(_percentile(timings, 0.95), 3),
        "p99_ms": round(_percentile(timings, 0.99), 3),
        "before_median_ms": round(statistics.median(before), 3),
        "before_p95_ms": round(_percentile(before, 0.95), 3),
        "heavy_customer_tickets": HEAVY_TICKETS,
        "heavy_median_ms": round(statistics.median(heavy), 3),
        "heavy_p95_ms": round(_percentile(heavy, 0.95), 3),
    }


def write_export(path: Path, n_rows: int, *, seed: int = 0) -> None:
    """A synthetic CSV export: realistic lengths, some PII, a few repeat customers."""
    rng = random.Random(seed)
    sentences = (
        "Hi, the internet keeps dropping every evening and the hub light goes orange.",
        "I restarted the router twice and moved it, speed test says 12 Mbps.",
        "Since firmware 4.2.1 PPPoE drops with LCP timeouts; MTU 1492, sync 79999 kbps.",
        "Call me on 07700 900123 or email sam.jones@example.com please.",
        "The TV box says no signal and the remote does nothing.",
        "DNS fails with ERR_NAME_NOT_RESOLVED unless I use 1.1.1.1; LAN is 192.168.1.0/24.",
        "I was charged twice, account number 12345678.",
        "Thanks, Priya",
    )
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["ticket_id", "customer_id", "created_at", "channel", "subject", "body",
             "expertise_level", "topic", "priority"]
        )  # fmt: skip
        for i in range(n_rows):
            body = " ".join(rng.sample(sentences, 4))
            writer.writerow(
                [f"X{i:08d}", f"C{rng.randrange(max(1, n_rows // 5)):07d}", _timestamp(rng),
                 rng.choice(CHANNELS), "Broadband problem", body, rng.choice(LEVELS),
                 rng.choice(TOPICS), rng.choice(("low", "normal", "high"))]
            )  # fmt: skip


def bench_ingest(n_rows: int = 100_000, *, seed: int = 0) -> dict[str, Any]:
    """Time ``Store.ingest_file`` on a synthetic CSV export into a fresh store."""
    from expertise.tickets.readers import TicketReader

    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.csv"
        write_export(export, n_rows, seed=seed)
        started = time.perf_counter()
        reader = TicketReader(export)
        read_rows = sum(len(chunk.frame) for chunk in reader.chunks())
        read_seconds = time.perf_counter() - started
        with Store(Path(tmp) / "ingest.db") as store:
            report = store.ingest_file(export)
            again = store.ingest_file(export)
    return {
        "rows": n_rows,
        "read_validate_rows_per_s": round(read_rows / read_seconds),
        "ingest_seconds": round(report.seconds, 2),
        "ingest_rows_per_s": round(report.rows_per_second),
        "reingest_rows_per_s": round(again.rows_per_second),
        "added": report.added,
        "reingest_unchanged": again.unchanged,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--db", type=Path, help="reuse or create this database file")
    parser.add_argument("--ingest-rows", type=int, default=100_000, help="0 to skip")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.db"
        results["history"] = bench_history(db, args.tickets, args.customers, queries=args.queries)
    if args.ingest_rows:
        results["ingest"] = bench_ingest(args.ingest_rows)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
