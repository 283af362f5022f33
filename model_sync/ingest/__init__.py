"""The sync pipeline in plain Python, free of Dagster: fetch a source, parse and check its rows,
publish them (`source`), build the catalog from every source's last good rows (`catalog`) and
the tables built from it (`derived`).

The assets in `model_sync.defs` call it and translate its outcomes for Dagster; the command
line, `model-sync record` and the benchmarks call it alike.
"""

from model_sync.ingest.fetch import Access, Fetched, dedupe, fetch_rows
from model_sync.ingest.source import (
    Outcome,
    identify,
    named_repositories,
    record_quietly,
    sync_source,
)

__all__ = ["Access", "Fetched", "Outcome", "dedupe", "fetch_rows", "identify",
           "named_repositories", "record_quietly", "sync_source"]
