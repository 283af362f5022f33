"""Incremental writes vs a full rewrite, on the recorded models.dev payload (4,967 offerings).

Prints the time of: the first publish, republishing the same rows (incremental: a read and a
diff), and the baseline of rewriting every row (delete + insert) in the same process, with the
ratio. Usage: python benchmarks/bench_publish.py [PAYLOADS_DIR]
"""

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from model_sync.catalog.identity import Resolver
from model_sync.catalog.schema import STORED_OFFERING_COLUMNS, source_offerings
from model_sync.catalog.store import CatalogStore
from model_sync.sources import SOURCES_BY_NAME
from model_sync.sources.base import ParseContext, loads

REPEAT = 5


def rows_of(payloads: Path) -> list[dict]:
    path = payloads / "models_dev" / "2026-06-01.json"
    when = datetime(2026, 6, 1, tzinfo=UTC)
    rows = SOURCES_BY_NAME["models_dev"].parse(loads(path.read_bytes(), "models_dev"),
                                               ParseContext("models_dev", when))
    resolver = Resolver(rows)
    for row in rows:
        row["canonical_id"] = resolver.canonical_id(row)
    return rows


def timed(fn, repeat: int = 1) -> float:
    """The median wall time of `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def checkpoint(store: CatalogStore) -> None:
    """Empty the WAL, so its size afterwards is what the next writes wrote."""
    raw = store.engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def wal_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def main() -> None:
    payloads = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/payloads")
    rows = rows_of(payloads)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = CatalogStore.from_url(f"sqlite:///{path}")
        now = datetime(2026, 6, 1, tzinfo=UTC)
        first = timed(lambda: store.publish_source("models_dev", rows, run_id="1",
                                                   started_at=now, now=now))
        later = now + timedelta(hours=6)
        checkpoint(store)
        unchanged = timed(lambda: store.publish_source("models_dev", rows, run_id="2",
                                                       started_at=later, now=later), REPEAT)
        wal_incremental = wal_bytes(path)
        stored = store.source_rows("models_dev")

        def rewrite():
            with store.engine.begin() as conn:
                conn.execute(sa.delete(source_offerings).where(
                    source_offerings.c.source == "models_dev"))
                conn.execute(sa.insert(source_offerings),
                             [{c: r[c] for c in STORED_OFFERING_COLUMNS} for r in stored])

        checkpoint(store)
        baseline = timed(rewrite, REPEAT)
        wal_rewrite = wal_bytes(path)
        store.dispose()
    print(f"offerings: {len(rows):,}")
    print(f"first publish (insert, events, price history): {first:.3f}s")
    print(f"republish unchanged (incremental), median of {REPEAT}: {unchanged:.3f}s, "
          f"{wal_incremental / 1024:,.0f} KiB written to the WAL")
    print(f"baseline full rewrite (delete + insert), median of {REPEAT}: {baseline:.3f}s, "
          f"{wal_rewrite / 1024:,.0f} KiB written to the WAL")
    print(f"incremental / full rewrite: time {unchanged / baseline:.2f}x, "
          f"bytes written {wal_incremental / max(wal_rewrite, 1):.3f}x")


if __name__ == "__main__":
    main()
