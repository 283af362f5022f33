"""Row stamps: a token per table (per source, for the tables a source sync writes) that the
database itself renews, by trigger, whenever a row of it is inserted, updated or deleted. A build compares
stamps, not a digest of every row, to know whether what it reads is as the last one read it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The stamped tables; those whose stamps are per source (`<table>/<source>`: a sync of one
# source never waits on another's stamp, nor renews it).
TABLES = ("source_offerings", "model_catalog", "models", "price_history", "prices")
PER_SOURCE = ("source_offerings", "price_history", "prices")
EVENTS = ("insert", "update", "delete")

# PostgreSQL: a stamp is renewed once per transaction (the first write of it), so a million-row
# write does not update one stamp row a million times; the stamp stays unique per commit.
_PG_FUNCTIONS = """
CREATE FUNCTION row_stamps_renew(stamp_name TEXT) RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
    UPDATE row_stamps SET stamp = md5(random()::text || clock_timestamp()::text),
                          stamped_in = txid_current()
     WHERE name = stamp_name AND stamped_in IS DISTINCT FROM txid_current();
    IF NOT FOUND THEN
        INSERT INTO row_stamps (name, stamp, stamped_in)
        VALUES (stamp_name, md5(random()::text || clock_timestamp()::text), txid_current())
        ON CONFLICT (name) DO NOTHING;
    END IF;
END $$;
CREATE FUNCTION row_stamps_touch() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_ARGV[0] = 'per_source' THEN
        IF TG_OP <> 'INSERT' THEN
            PERFORM row_stamps_renew(TG_TABLE_NAME || '/' || OLD.source);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM row_stamps_renew(TG_TABLE_NAME || '/' || NEW.source);
        END IF;
    ELSE
        PERFORM row_stamps_renew(TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END $$;
"""


def _sqlite_trigger(table: str, event: str) -> str:
    if table in PER_SOURCE:
        rows = {"insert": ("NEW",), "update": ("OLD", "NEW"), "delete": ("OLD",)}[event]
        names = [f"'{table}/' || {row}.source" for row in rows]
    else:
        names = [f"'{table}'"]
    renew = "".join(f"INSERT INTO row_stamps (name, stamp) VALUES ({name}, "
                    "lower(hex(randomblob(16)))) ON CONFLICT (name) DO UPDATE SET "
                    "stamp = excluded.stamp; " for name in names)
    return (f"CREATE TRIGGER row_stamps_{table}_{event} AFTER {event.upper()} ON {table} "
            f"FOR EACH ROW BEGIN {renew}END")


def upgrade() -> None:
    op.create_table(
        "row_stamps",
        sa.Column("name", sa.String(80), primary_key=True,
                  comment="a stamped table, or <table>/<source> for one stamped by source"),
        sa.Column("stamp", sa.String(32), nullable=False,
                  comment="renewed by trigger with every write to its rows"),
        sa.Column("stamped_in", sa.BigInteger(),
                  comment="PostgreSQL: the transaction that last renewed it"),
    )
    conn = op.get_bind()
    names = [*(t for t in TABLES if t not in PER_SOURCE),
             *(f"{table}/{source}" for table in PER_SOURCE
               for source in conn.execute(sa.text(f"SELECT DISTINCT source FROM {table}"))
               .scalars() if source is not None)]
    stamps = sa.table("row_stamps", sa.column("name"), sa.column("stamp"))
    if names:
        op.bulk_insert(stamps, [{"name": name, "stamp": uuid.uuid4().hex} for name in names])
    if conn.dialect.name == "postgresql":
        op.execute(_PG_FUNCTIONS)
        for table in TABLES:
            kind = "per_source" if table in PER_SOURCE else "table"
            op.execute(f"CREATE TRIGGER row_stamps_{table} AFTER INSERT OR UPDATE OR DELETE ON "
                       f"{table} FOR EACH ROW EXECUTE FUNCTION row_stamps_touch('{kind}')")
    else:
        for table in TABLES:
            for event in EVENTS:
                op.execute(_sqlite_trigger(table, event))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER row_stamps_{table} ON {table}")
        op.execute("DROP FUNCTION row_stamps_touch()")
        op.execute("DROP FUNCTION row_stamps_renew(TEXT)")
    else:
        for table in TABLES:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER row_stamps_{table}_{event}")
    op.drop_table("row_stamps")
