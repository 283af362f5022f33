"""A bounded memo for the values a sync repeats by the thousand (prices, timestamps, flags)."""

from collections.abc import Callable, Hashable
from typing import Any

LIMIT = 100_000  # distinct values remembered before all are forgotten at once


def remembered(compute: Callable[[Any], Any], key: Callable[[Any], Hashable] | None = None,
               limit: int = LIMIT) -> Callable[[Any], Any]:
    """`compute`, remembering its result per value (or per `key(value)`): a million distinct
    values cannot pin memory, and an unhashable one is computed every time."""
    known: dict[Hashable, Any] = {}

    def lookup(value: Any) -> Any:
        try:
            marker = value if key is None else key(value)
            return known[marker]
        except KeyError:
            if len(known) > limit:
                known.clear()
            known[marker] = result = compute(value)
            return result
        except TypeError:  # not hashable (a signaling NaN, a list holding dicts)
            return compute(value)

    return lookup
