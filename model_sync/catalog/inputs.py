"""What a catalog row was merged from (`model_catalog.inputs_hash`): its source rows (by key,
content hash, lifecycle and canonical id), whether its provider's own API lists offerings, and
the code and alias table of the build. Two builds that hash a row's inputs alike merge it alike,
so a build merges again only the offerings whose inputs changed (`Sourced.changed`).
"""

import hashlib
from collections.abc import Collection, Iterable, Mapping
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.build_digests import aliases_digest, code_digest, recorded
from model_sync.catalog.history import CATALOG_LIFECYCLE

# A build merges (rolls up) again only the rows whose inputs changed while at most this share of
# them did; past it, every row is built from one read.
CHANGED_MAX = 0.25
# In place of a stored inputs hash: the offering (or model) hashed alike this build, so its
# stored row stands. A marker, not a hash: marking a million rows allocates nothing.
KEPT = "kept"
# Of a source row: what the merge reads of it besides its content (which its hash covers).
INPUT_COLUMNS = ("source", "source_key", "content_hash", "canonical_id", *CATALOG_LIFECYCLE)


def most_changed(conn: sa.Connection, name: str, *, known: int, stored: int) -> int | None:
    """How many of its `stored` rows a build of `name` may build again alone, the rest kept as
    stored (`known` of them know their inputs). None, to build every row from one read, when
    fewer than half know them (the first build after the upgrade) or the last build left no
    record (`DELETE FROM build_digests` has every row built again)."""
    if not known or known < stored / 2 or not recorded(conn, name):
        return None
    return max(1000, int(CHANGED_MAX * stored))


def build_context() -> str:
    """What every row of a build is merged with: the code and the aliases."""
    return hashlib.sha1(f"{code_digest()}\n{aliases_digest()}".encode()).hexdigest()


def inputs_hash(context: str, provider: str, listing: Collection[str],
                rows: Iterable[Mapping[str, Any]]) -> str:
    """The hash of one offering's inputs: `rows`, its source rows (at least INPUT_COLUMNS,
    their canonical ids as resolved), and whether its provider is among `listing`, those whose
    own API lists offerings (the merge marks the rest of their offerings unlisted)."""
    # repr: None is not "None", and a timestamp (aware, UTC, as every build reads it) is exact.
    parts = sorted(map(repr, map(_INPUTS, rows)))
    return hashlib.sha1("\n".join((context, str(provider in listing), *parts))
                        .encode()).hexdigest()


_INPUTS = itemgetter(*INPUT_COLUMNS)
