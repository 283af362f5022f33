"""Bulk upserts the fast way for each dialect: `INSERT ... ON CONFLICT DO UPDATE` with one
prepared executemany (SQLite), or COPY into a staging table and one upsert (PostgreSQL); see
`bulk`."""

from model_sync.catalog.bulk import upsert

__all__ = ["upsert"]
