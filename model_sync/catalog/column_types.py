"""The column types that keep the catalog's values exact: decimals, UTC timestamps and JSON in
which decimals stay exact numbers (`schema.py` builds the tables with them)."""

import json
from datetime import UTC
from decimal import Decimal
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from model_sync.catalog.money import exact_json, format_decimal


class _ReadOnce(TypeDecorator):
    """A type whose stored text SQLite hands back again and again across rows (prices,
    timestamps): each distinct text is read once (the values read are immutable)."""

    cache_ok = True

    def result_processor(self, dialect, coltype):
        process = super().result_processor(dialect, coltype)
        if process is None or dialect.name != "sqlite":
            return process
        return lru_cache(maxsize=4096)(process)


class ExactDecimal(_ReadOnce):
    """A Decimal stored without loss: NUMERIC on PostgreSQL, decimal text on SQLite."""

    impl = sa.String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(asdecimal=True))
        return dialect.type_descriptor(sa.String(64))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "postgresql":
            return Decimal(value)
        return format_decimal(Decimal(value))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return Decimal(value).normalize()


class UtcDateTime(_ReadOnce):
    """A timestamp always handed back as timezone-aware UTC, on every dialect."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JsonList(TypeDecorator):
    """A list (modalities, flags, sources; price components), stored as compact JSON text in
    which decimals stay exact numbers."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else exact_json(value, separators=(",", ":"),
                                                     check_circular=False)

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(value, parse_float=Decimal)


class JsonObject(JsonList):
    """A JSON object (source-specific extras, per-field lineage); decimals stay exact numbers."""

    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return exact_json(value, separators=(",", ":"), sort_keys=True, check_circular=False)

    def process_result_value(self, value, dialect):
        return None if value is None else _EXACT.decode(value)


_EXACT = json.JSONDecoder(parse_float=Decimal)  # built once: json.loads(..., parse_float=) is not
