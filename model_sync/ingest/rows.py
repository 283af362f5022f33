"""A source's rows, in the order they were parsed, held in little memory at any size.

A row is a dict of every contract column: about 2 KB in memory, so a million rows would be
2 GB. Up to `PACK_ABOVE` rows they are a plain list. Past that they are held pickled, `CHUNK`
rows to a blob (about 320 bytes a row: equal keys, components and word lists are written once a
chunk), and every pass over them reads one chunk back at a time (about 2 µs a row).

A row read back from a packed chunk is a fresh copy: changing it changes nothing held. A column
is set with `assign`; nothing else changes a parsed row. The blobs live in this process only:
pickled here, read here, never written anywhere.
"""

import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, overload

Row = dict[str, Any]

PACK_ABOVE = 50_000  # rows held as dicts; past this many, they are packed
CHUNK = 1_000  # rows to a packed blob


class Rows(Sequence[Row]):
    """Rows appended in order (`extend`), read in order (iteration, an index or a slice)."""

    def __init__(self, rows: Iterable[Row] = (), *, pack_above: int | None = None,
                 chunk: int | None = None):
        self.pack_above = PACK_ABOVE if pack_above is None else pack_above
        self.chunk = CHUNK if chunk is None else chunk
        self._packed: list[bytes] = []  # each `chunk` rows, in order
        self._tail: list[Row] = []  # the rows after them, as dicts
        self.extend(rows)

    @property
    def packed(self) -> bool:
        """Whether any row is held packed."""
        return bool(self._packed)

    def like(self, rows: Iterable[Row] = ()) -> "Rows":
        """New rows held the way these are (the same threshold and chunk size)."""
        return Rows(rows, pack_above=self.pack_above, chunk=self.chunk)

    def extend(self, rows: Iterable[Row]) -> None:
        self._tail.extend(rows)
        if len(self) > self.pack_above and len(self._tail) >= self.chunk:
            whole = len(self._tail) - len(self._tail) % self.chunk
            for start in range(0, whole, self.chunk):
                self._packed.append(pickle.dumps(self._tail[start:start + self.chunk],
                                                 protocol=pickle.HIGHEST_PROTOCOL))
            del self._tail[:whole]

    def clear(self) -> None:
        self._packed.clear()
        self._tail.clear()

    def truncate(self, size: int) -> None:
        """Keep the first `size` rows."""
        if size >= len(self):
            return
        kept = list(self._between(0, size))
        self.clear()
        self.extend(kept)

    def assign(self, column: str, value: Callable[[Row], Any]) -> None:
        """Set `column` of each row to `value(row)`, in order (a chunk read and packed again)."""
        for number, blob in enumerate(self._packed):
            rows = pickle.loads(blob)
            for row in rows:
                row[column] = value(row)
            self._packed[number] = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        for row in self._tail:
            row[column] = value(row)

    def __len__(self) -> int:
        return len(self._packed) * self.chunk + len(self._tail)

    def __iter__(self) -> Iterator[Row]:
        for blob in self._packed:
            yield from pickle.loads(blob)
        yield from self._tail

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return list(self._between(0, len(self)))[index]
            return list(self._between(start, max(start, stop)))
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("row index out of range")
        return next(self._between(index, index + 1))

    def _between(self, start: int, stop: int) -> Iterator[Row]:
        """Rows start..stop-1, reading only the chunks that hold them."""
        chunk, packed = self.chunk, len(self._packed) * self.chunk
        for at in range(start // chunk, min(len(self._packed), -(-stop // chunk))):
            first = at * chunk
            yield from islice(pickle.loads(self._packed[at]), max(start - first, 0),
                              min(stop - first, chunk))
        yield from self._tail[max(start - packed, 0):max(stop - packed, 0)]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Rows | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Rows({len(self):,} rows{', packed' if self.packed else ''})"
