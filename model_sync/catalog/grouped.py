"""Rows read in offering order and handed on one offering at a time: a build over a million
offerings holds one offering's rows, not every row.

The database brings the rows of one provider and model id together (`ORDER BY provider,
model_id`); an offering whose model id is spelt in other cases too (or lacks a provider or
model id) may come in pieces, so its rows are held and handed on last.
"""

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.merge import catalog_key

Key = tuple[str, str]


def apart(conn: sa.Connection, query: sa.Select) -> set[Key]:
    """The catalog keys whose rows the offering order may not bring together, of the rows
    `query` selects as `(provider, model_id)`: a model id not in its case-folded spelling."""
    provider, model_id = query.selected_columns[:2]
    # The database picks the candidates (a null, a letter `lower` folds, or any character past
    # ASCII, which `lower` may not fold as Python does); Python judges them.
    other = (model_id.regexp_match("[^ -~]") if conn.dialect.name == "postgresql"
             else model_id.op("GLOB")("*[^ -~]*"))
    candidates = query.where(sa.or_(provider.is_(None), provider == "", model_id.is_(None),
                                    model_id != sa.func.lower(model_id), other))
    return {catalog_key(provider or "", model_id or "")
            for provider, model_id in conn.execute(candidates.distinct())
            if not provider or not model_id or model_id != model_id.casefold()}


def by_offering(rows: Iterable[Mapping[str, Any]], held: Collection[Key]
                ) -> Iterator[tuple[Key, list[Mapping[str, Any]]]]:
    """`rows`, in offering order, by catalog key; the keys in `held` (see `apart`) last."""
    later: dict[Key, list[Mapping[str, Any]]] = {}
    current: Key | None = None
    group: list[Mapping[str, Any]] = []
    for row in rows:
        key = catalog_key(row["provider"] or "", row["model_id"] or "")
        if key in held:
            later.setdefault(key, []).append(row)
            continue
        if key != current:
            if group:
                yield current, group  # type: ignore[misc]
            current, group = key, []
        group.append(row)
    if group:
        yield current, group  # type: ignore[misc]
    yield from later.items()


def mappings(conn: sa.Connection, query: sa.Select) -> Iterator[dict[str, Any]]:
    """The rows a query selects, as plain dicts, one at a time from the cursor."""
    # A server-side cursor where the database has one (PostgreSQL): not every row at once.
    result = conn.execute(query.execution_options(yield_per=2000))
    keys = list(result.keys())
    for row in result:
        yield dict(zip(keys, row, strict=True))
