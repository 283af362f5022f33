"""The catalog's storage with SQLAlchemy, SQLite by default and PostgreSQL when configured:
`CatalogStore` reads the tables here and writes them through `writes.CatalogWrites`.
"""

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, cast

import pandas as pd
import sqlalchemy as sa

from model_sync.catalog import digests
from model_sync.catalog.contract import (
    ACTIVE,
    ARCHIVED,
    CATALOG_COLUMNS,
    PRICE_FIELDS,
    UNLISTED,
    CatalogRow,
    ModelRow,
    StoredOffering,
)
from model_sync.catalog.engine import (
    DATABASE_URL_ENV,
    CatalogUnavailable,
    cause,
    default_database_url,
    make_engine,
    rows_of,
    shown_url,
)
from model_sync.catalog.grouped import mappings
from model_sync.catalog.history import SyncStats, content_hash
from model_sync.catalog.schema import (
    catalog_changes,
    metadata,
    model_catalog,
    models,
    price_history,
    rejected_entries,
    source_offerings,
    sync_runs,
)
from model_sync.catalog.writes import CatalogWrites
from model_sync.sources.huggingface import most_wanted

__all__ = ["DATABASE_URL_ENV", "CatalogStore", "CatalogUnavailable", "SyncStats",
           "content_hash", "default_database_url", "make_engine"]


class CatalogStore(CatalogWrites):
    """Reads and writes the catalog tables through one SQLAlchemy engine."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    @classmethod
    def from_url(cls, url: str | None = None) -> "CatalogStore":
        """Open the catalog at `url` and bring its schema up to date; a database that cannot
        be reached or written is a `CatalogUnavailable` naming it (without its password)."""
        url = url or default_database_url()
        try:
            store = cls(make_engine(url))
            store.create_schema()
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.ArgumentError,
                OSError) as exc:
            raise CatalogUnavailable(
                f"cannot open the catalog database {shown_url(url)}: {cause(exc)}") from None
        return store

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def create_schema(self) -> None:
        """Create the tables, or upgrade them to the newest schema revision (Alembic)."""
        from model_sync.catalog.migrations import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- reads -----------------------------------------------------------------------------------

    def source_rows(self, source: str, conn: sa.Connection | None = None, *,
                    active_only: bool = False) -> list[StoredOffering]:
        """A source's stored rows (all states, or only the active ones)."""
        query = sa.select(source_offerings).where(source_offerings.c.source == source)
        if active_only:
            query = query.where(source_offerings.c.state == ACTIVE)
        return cast(list[StoredOffering],
                    self._rows(query.order_by(source_offerings.c.source_key), conn))

    def source_prices(self, source: str) -> list[dict[str, Any]]:
        """The key and prices of each row a source lists (active rows): what its audit compares
        a sync with."""
        table = source_offerings
        query = sa.select(table.c.source_key, *(table.c[p] for p in PRICE_FIELDS)).where(
            table.c.source == source, table.c.state == ACTIVE).order_by(table.c.source_key)
        return self._rows(query)

    def listed_rows(self, source: str) -> Iterator[dict[str, Any]]:
        """The rows a source lists (active), with the columns a sync shows and audits: key,
        offering, context window and prices; one at a time."""
        table = source_offerings
        columns = ["source_key", "provider", "model_id", "context_window", *PRICE_FIELDS]
        query = sa.select(*(table.c[c] for c in columns)).where(
            table.c.source == source, table.c.state == ACTIVE).order_by(table.c.source_key)
        with self.engine.connect() as conn:
            yield from mappings(conn, query)

    def source_count(self, source: str) -> int:
        """The number of rows a source currently lists (active rows)."""
        with self.engine.connect() as conn:
            return digests.listed_count(conn, source)

    def catalog_count(self) -> int:
        """The number of offerings the catalog serves (active rows: not removed, archived or
        unlisted)."""
        query = sa.select(sa.func.count()).select_from(model_catalog).where(
            model_catalog.c.state == ACTIVE)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def offerings(self, sources: Sequence[str] | None = None, *,
                  include_archived: bool = False,
                  providers: Sequence[str] | None = None,
                  leave_out: Sequence[str] = ()) -> list[StoredOffering]:
        """Source rows for the catalog: active and removed (in their grace period); without
        the columns in `leave_out`."""
        query = sa.select(*(c for c in source_offerings.columns if c.name not in leave_out)
                          ).order_by(source_offerings.c.source, source_offerings.c.source_key)
        if sources is not None:
            query = query.where(source_offerings.c.source.in_(list(sources)))
        if providers is not None:
            query = query.where(source_offerings.c.provider.in_(list(providers)))
        if not include_archived:
            query = query.where(source_offerings.c.state != ARCHIVED)
        return cast(list[StoredOffering], self._rows(query))

    def hugging_face_ids(self, exclude_source: str | None = None) -> list[str]:
        """The distinct Hugging Face repositories the sources' rows name (archived rows aside),
        most wanted first (`huggingface.most_wanted`: the order decides which are looked up)."""
        column = source_offerings.c.hugging_face_id
        query = sa.select(source_offerings.c.source, column).distinct().where(
            column.is_not(None), column != "", source_offerings.c.state != ARCHIVED)
        if exclude_source:
            query = query.where(source_offerings.c.source != exclude_source)
        with self.engine.connect() as conn:
            pairs = conn.execute(query).all()
        return most_wanted((source, repo) for source, repo in pairs)

    def identity_rows(self, exclude_source: str | None = None) -> list[dict[str, Any]]:
        """The columns identity resolution reads of other rows (`Resolver` builds its index of
        known ids from them), for every listed row (but those of `exclude_source`)."""
        table = source_offerings
        query = sa.select(table.c.source, table.c.model_id, table.c.hugging_face_id,
                          table.c.name).where(table.c.state != ARCHIVED)
        if exclude_source is not None:
            query = query.where(table.c.source != exclude_source)
        return self._rows(query)

    def catalog_rows(self, conn: sa.Connection | None = None, *, active_only: bool = False,
                     include_unlisted: bool = False, include_archived: bool = False,
                     columns: Sequence[str] | None = None) -> list[CatalogRow]:
        """Catalog rows (only `columns` of each, when given); `active_only` leaves out archived
        and unlisted ones unless included (removed ones stay, flagged)."""
        selected = [model_catalog.c[c] for c in columns] if columns else [model_catalog]
        query = sa.select(*selected).order_by(model_catalog.c.provider,
                                              model_catalog.c.model_id)
        if active_only:
            left_out = [state for state, kept in ((ARCHIVED, include_archived),
                                                  (UNLISTED, include_unlisted)) if not kept]
            if left_out:
                query = query.where(model_catalog.c.state.not_in(left_out))
        return cast(list[CatalogRow], self._rows(query, conn))

    def catalog_frame(self, *, active_only: bool = True,
                      include_unlisted: bool = False) -> pd.DataFrame:
        rows = self.catalog_rows(active_only=active_only, include_unlisted=include_unlisted)
        return pd.DataFrame(rows, columns=CATALOG_COLUMNS)

    def model_rows(self) -> list[ModelRow]:
        return cast(list[ModelRow], self._rows(sa.select(models).order_by(models.c.canonical_id)))

    def changes(self, *, source: str | None = None, since: datetime | None = None,
                limit: int | None = None, after_id: int | None = None) -> list[dict[str, Any]]:
        """Change events, oldest first (after the event `after_id`, when given)."""
        query = sa.select(catalog_changes).order_by(catalog_changes.c.id)
        if source:
            query = query.where(catalog_changes.c.source == source)
        if since:
            query = query.where(catalog_changes.c.detected_at >= since)
        if after_id is not None:
            query = query.where(catalog_changes.c.id > after_id)
        return self._rows(query.limit(limit) if limit else query)

    def change_counts(self, *, since: datetime | None = None) -> dict[str, int]:
        """How many change events of each kind there are since `since` (all when None)."""
        table = catalog_changes
        query = sa.select(table.c.change, sa.func.count()).group_by(table.c.change)
        if since:
            query = query.where(table.c.detected_at >= since)
        with self.engine.connect() as conn:
            return {change: count for change, count in conn.execute(query)}

    def latest_changes(self, *, since: datetime | None = None,
                       limit: int = 20) -> list[dict[str, Any]]:
        """The last `limit` change events since `since`, oldest first."""
        query = sa.select(catalog_changes).order_by(catalog_changes.c.id.desc()).limit(limit)
        if since:
            query = query.where(catalog_changes.c.detected_at >= since)
        return self._rows(query)[::-1]

    def price_intervals(self, *, source: str | None = None, provider: str | None = None,
                        model_id: str | None = None) -> list[dict[str, Any]]:
        """Price history intervals, oldest first."""
        query = sa.select(price_history).order_by(price_history.c.source,
                                                  price_history.c.source_key,
                                                  price_history.c.id)
        for column, value in (("source", source), ("provider", provider),
                              ("model_id", model_id)):
            if value is not None:
                query = query.where(price_history.c[column] == value)
        return self._rows(query)

    def sync_history(self, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = sa.select(sync_runs).order_by(sync_runs.c.started_at.desc(), sync_runs.c.id.desc())
        if source:
            query = query.where(sync_runs.c.source == source)
        return self._rows(query.limit(limit))

    def recorded_sources(self, run_id: str) -> set[str]:
        """The sources (and the catalog) whose attempt in this run is recorded in sync_runs."""
        query = sa.select(sync_runs.c.source).where(sync_runs.c.run_id == run_id).distinct()
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def rejections(self, source: str | None = None, *,
                   run_id: str | None = None) -> list[dict[str, Any]]:
        """Rejected entries, newest first."""
        query = sa.select(rejected_entries).order_by(rejected_entries.c.id.desc())
        if source:
            query = query.where(rejected_entries.c.source == source)
        if run_id:
            query = query.where(rejected_entries.c.run_id == run_id)
        return self._rows(query)

    def last_change_id(self) -> int:
        """The id of the newest change event, 0 when there is none."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(catalog_changes.c.id))).scalar() or 0

    def open_price_intervals(self) -> int:
        """How many price intervals are in force (open)."""
        query = sa.select(sa.func.count()).select_from(price_history).where(
            price_history.c.valid_to.is_(None))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def table_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in metadata.sorted_tables}

    def _rows(self, query: sa.Executable,
              conn: sa.Connection | None = None) -> list[dict[str, Any]]:
        if conn is not None:
            return rows_of(conn, query)
        with self.engine.connect() as own:
            return rows_of(own, query)
