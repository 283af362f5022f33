"""A page's JSON: exact decimals, and objects that give a key twice remembered as such."""

import json
from decimal import Decimal
from typing import Any


class BodyError(ValueError):
    """A response body that is not JSON (empty, malformed); the message names the listing."""

    def __init__(self, source: str, message: str):
        self.source, self.message = source, message
        super().__init__(f"{self.where}: {message}")

    @property
    def where(self) -> str:
        """What the message names before the cause."""
        return self.source


class RepeatedKeys(dict):
    """A JSON object in which some keys were given more than once with different values;
    `repeats` holds every value given for each of them (a plain dict keeps only the last)."""

    __slots__ = ("repeats",)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    given: dict[str, list[Any]] = {}
    for name, item in pairs:
        given.setdefault(name, []).append(item)
    repeats = {name: items for name, items in given.items()
               if len(items) > 1 and any(item != items[0] for item in items)}
    if not repeats:
        return value  # the same value twice: nothing is lost
    flagged = RepeatedKeys(value)
    flagged.repeats = repeats
    return flagged


def decode(body: bytes | str, source: str) -> Any:
    """Decode a JSON body with exact decimals; a malformed or empty body is a BodyError.

    Objects that give a key twice with different values remember every value (`RepeatedKeys`),
    so a keyed payload can reject that entry instead of silently keeping the later copy.
    """
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8-sig", errors="replace")
    if not body.strip():
        raise BodyError(source, "the response body is empty")
    try:
        return json.loads(body, parse_float=Decimal, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        raise BodyError(source, f"the response is not valid JSON ({exc})") from None
