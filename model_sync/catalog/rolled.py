"""The `models` rollup published as it is rolled up, in one transaction: only the models whose
inputs changed (`models.inputs_hash`: their served catalog rows' content hashes and the
benchmark and Hub figures joined to them) are rolled up again, the rest stand as stored; the rows
whose content changed are written, the models no offering serves any more dropped.
"""

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any, cast

import sqlalchemy as sa

from model_sync.catalog import bulk, stamps
from model_sync.catalog.build_digests import code_digest
from model_sync.catalog.contract import ARCHIVED, MODEL_COLUMNS, UNLISTED, CatalogRow, ModelRow
from model_sync.catalog.grouped import mappings
from model_sync.catalog.history import content_hash
from model_sync.catalog.inputs import KEPT
from model_sync.catalog.money import json_encoder
from model_sync.catalog.previous import KEYS_PER_QUERY
from model_sync.catalog.rollup import Figures, figures_of, model_row
from model_sync.catalog.schema import model_catalog, models
from model_sync.catalog.upsert import upsert

# What the rollup reads of each catalog row (`rollup.model_row`): no JSON lineage to decode.
ROLLUP_COLUMNS = ("provider", "model_id", "canonical_id", "state", "name", "creator", "family",
                  "release_date", "open_weights", "context_window", "hugging_face_id",
                  "input_price", "output_price", "price_flags", "content_hash")
_SLIM = ("canonical_id", "provider", "model_id", "hugging_face_id", "content_hash")
_ENCODE = json_encoder(sort_keys=True, default=str, check_circular=False)
Rolled = tuple[ModelRow, str]  # a model and the hash of its inputs


def model_inputs(canonical_id: str, rows: Sequence[Mapping[str, Any]], figures: Figures,
                 joined: tuple[dict[str, Any], dict[str, Any], str | None] | None = None) -> str:
    """The hash of what a model is rolled up from: its served catalog rows (at least `_SLIM`)
    and the figures joined to it (`joined`: `figures_of` the model, when already looked up),
    with the code."""
    bench, hub, _ = joined or figures_of(canonical_id, rows, figures)
    parts = sorted(repr((r["provider"], r["model_id"], r["content_hash"])) for r in rows)
    return hashlib.sha1("\n".join((code_digest(), canonical_id, _ENCODE(bench), _ENCODE(hub),
                                   *parts)).encode()).hexdigest()


def _served(*columns: str) -> sa.Select:
    """The served catalog rows that name their model (what `rollup` rolls up), by model."""
    table = model_catalog
    return sa.select(*(table.c[c] for c in columns)).where(
        table.c.canonical_id.is_not(None), table.c.canonical_id != "",
        table.c.state.not_in([ARCHIVED, UNLISTED])).order_by(
        table.c.canonical_id, table.c.provider, table.c.model_id)


def every_model(conn: sa.Connection, figures: Figures) -> Iterator[Rolled]:
    """Every model rolled up from one read of the served catalog rows."""
    for canonical_id, group in groupby(mappings(conn, _served(*ROLLUP_COLUMNS)),
                                       key=itemgetter("canonical_id")):
        rows = cast(list[CatalogRow], list(group))
        joined = figures_of(canonical_id, rows, figures)  # looked up once for both
        yield (model_row(canonical_id, rows, figures, joined),
               model_inputs(canonical_id, rows, figures, joined))


class ModelsPublish:
    """The publish of one rollup, fed its models one at a time (`add`), inside the transaction
    of `conn`; `rows` and `shared` count the models published and those served by more than
    one provider."""

    def __init__(self, conn: sa.Connection, *, now: datetime):
        self.conn, self.now = conn, now
        self.rows = self.shared = self.written = 0
        self.previous: dict[str, tuple[str, int]] = {}  # content hash, providers
        self.inputs: dict[str, str] = {}
        for canonical_id, digest, inputs, providers in conn.execute(sa.select(
                models.c.canonical_id, models.c.content_hash, models.c.inputs_hash,
                models.c.providers)):
            self.previous[canonical_id] = (digest, providers or 0)
            if inputs is not None:
                self.inputs[canonical_id] = inputs
        self.writes: list[dict[str, Any]] = []
        self.rehashed: list[dict[str, str]] = []

    def changed(self, conn: sa.Connection, figures: Figures, *, most: int
                ) -> Iterator[Rolled] | None:
        """The models whose inputs hash is not the one stored, rolled up again; every other
        one kept as stored. None, and nothing kept, when more than `most` changed."""
        changed: dict[str, str] = {}
        for canonical_id, group in groupby(mappings(conn, _served(*_SLIM)),
                                           key=itemgetter("canonical_id")):
            digest = model_inputs(canonical_id, list(group), figures)
            if self.inputs.get(canonical_id) == digest:
                self.inputs[canonical_id] = KEPT  # no list of a million names beside
            elif len(changed) < most:
                changed[canonical_id] = digest
            else:
                return None
        for canonical_id, inputs in self.inputs.items():
            if inputs == KEPT:
                _, providers = self.previous.pop(canonical_id)
                self.rows += 1
                self.shared += providers > 1
        return self._rolled(conn, changed, figures)

    @staticmethod
    def _rolled(conn: sa.Connection, changed: dict[str, str], figures: Figures
                ) -> Iterator[Rolled]:
        names = list(changed)
        for start in range(0, len(names), KEYS_PER_QUERY):
            query = _served(*ROLLUP_COLUMNS).where(
                model_catalog.c.canonical_id.in_(names[start:start + KEYS_PER_QUERY]))
            for canonical_id, group in groupby(mappings(conn, query),
                                               key=itemgetter("canonical_id")):
                rows = cast(list[CatalogRow], list(group))
                yield model_row(canonical_id, rows, figures), changed[canonical_id]

    def add(self, row: ModelRow, inputs: str) -> None:
        """Write the model when its content changed (else only its inputs hash, if that did)."""
        self.rows += 1
        self.shared += (row.get("providers") or 0) > 1
        digest = content_hash(row)
        old = self.previous.pop(row["canonical_id"], None)
        if old is not None and old[0] == digest:
            if self.inputs.get(row["canonical_id"]) not in (KEPT, inputs):
                self.rehashed.append({"b_id": row["canonical_id"], "inputs_hash": inputs})
            return
        self.writes.append({**{c: row.get(c) for c in MODEL_COLUMNS}, "content_hash": digest,
                            "updated_at": self.now, "inputs_hash": inputs})
        if len(self.writes) >= bulk.BATCH:
            self._flush()

    def finish(self) -> int:
        """Write the rest, drop the models no offering serves any more; how many rows were
        written or dropped."""
        self._flush()
        if self.rehashed:  # the build's own bookkeeping: nothing downstream reads it
            with stamps.unstamped(self.conn) as conn:
                conn.execute(sa.update(models).where(
                    models.c.canonical_id == sa.bindparam("b_id")), self.rehashed)
        gone = list(self.previous)
        for start in range(0, len(gone), KEYS_PER_QUERY):
            self.conn.execute(sa.delete(models).where(
                models.c.canonical_id.in_(gone[start:start + KEYS_PER_QUERY])))
        return self.written + len(gone)

    def _flush(self) -> None:
        upsert(self.conn, models, self.writes, ("canonical_id",))
        self.written += len(self.writes)
        self.writes = []
