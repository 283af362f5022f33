"""One identity per model across providers: the `canonical_id` of every offering.

Resolution, in order:
1. what the sources publish: a Hugging Face repository (`hugging_face_id`) names open weights;
   OpenRouter's `canonical_slug` names the dated snapshot behind an undated alias when another
   source knows that snapshot; genai-prices' `match` rules name the exact ids a price covers;
2. normalization rules (`base_id`): routing prefixes, cloud-specific spellings (Bedrock, Vertex,
   Fireworks), version separators, date formats and precision suffixes are made uniform;
3. the alias table `aliases.csv` (plus `$MODEL_SYNC_ALIASES_FILE`, if set), for what no rule
   can know, e.g. that Groq's `llama-3.1-8b-instant` is Llama 3.1 8B Instruct.

What stays apart: sizes, `-instruct` vs base, each dated snapshot, and `:free`-style variants.
An undated name resolves to its dated snapshot only when exactly one snapshot is known (or the
alias table says which).
"""

import csv
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from model_sync.catalog.providers import canonical_provider

ALIASES_FILE = Path(__file__).with_name("aliases.csv")
ALIASES_ENV = "MODEL_SYNC_ALIASES_FILE"

_DATE = re.compile(r"-(20\d{6})$")
_VARIANT = re.compile(r":([a-z0-9][a-z0-9-]*)$")  # :free, :beta, :thinking, budgets (:1024)
_SIZE_TAG = re.compile(r":(\d+(?:\.\d+)?[bm])$")  # Ollama-style size tags, e.g. :671b
_BEDROCK_REGION = re.compile(r"^(?:us|eu|apac|au|jp|ca|global|regional|us-gov)\.")
_BEDROCK_VENDOR = re.compile(
    r"^(?:anthropic|meta|amazon|mistral|cohere|ai21|deepseek|qwen|openai|writer|twelvelabs|"
    r"stability|luma|minimax|moonshot|moonshotai|google|nvidia|zai)\.")
# Makers and platforms some providers glue in front of a model name (`anthropic--claude-3.5`,
# `openai-gpt-4o`, Databricks' `databricks-claude-sonnet-4`).
_CREATORS = ("anthropic", "openai", "meta", "google", "azure", "microsoft", "databricks")
_CREATOR_PREFIX = re.compile(rf"^(?:{'|'.join(_CREATORS)})-+(?=[a-z])")
_SIZE_END = re.compile(r"-\d+(?:-\d+)?b$")
_PRECISION = re.compile(r"-(?:fp8|fp16|bf16|fp4|int4|int8|awq|gptq|gguf|w8a8|w4a16|turbo-fp8)$")
_PRECISION_ENDS = ("fp8", "fp16", "bf16", "fp4", "int4", "int8", "awq", "gptq", "gguf", "w8a8",
                   "w4a16")


_BEDROCK_REVISION = re.compile(r"(-v\d+):\d+$")
_BEDROCK_DATED = re.compile(r"(\d{8})-v\d+$")
_VERTEX_AT = re.compile(r"(?:-v\d+)?@")
_MAAS = re.compile(r"-maas$")
_ISO_DATE_END = re.compile(r"(20\d\d)-(\d\d)-(\d\d)$")
_P_DECIMAL = re.compile(r"(\d)p(\d)")
_V_NUMBER = re.compile(r"-v(\d)")
_DOT_DECIMAL = re.compile(r"(\d)\.(\d)")
_GLUED_NUMBER = re.compile(r"(^|-)([a-z]{3,})(\d)")
_CLAUDE_OLD = re.compile(r"^claude-(sonnet|opus|haiku)-([1-3](?:-\d)?)(?=-|$)")
_CLAUDE_NEW = re.compile(r"^claude-([4-9](?:-\d)?)-(sonnet|opus|haiku)(?=-|$)")
_DASHES = re.compile(r"-{2,}")


# Replacements as functions, not templates: a template is looked up anew on every call.
def _dotted(match: re.Match) -> str:
    return f"{match[1]}.{match[2]}"


def _dashed(match: re.Match) -> str:
    return f"{match[1]}-{match[2]}"


def _unglued(match: re.Match) -> str:
    return f"{match[1]}{match[2]}-{match[3]}"


@lru_cache(maxsize=1 << 17)  # bounded: a million distinct ids must not pin their spellings
def base_id(model_id: str) -> str:
    """A provider's model id in a uniform spelling (no provider knowledge needed).

    `anthropic.claude-3-5-sonnet-20241022-v2:0` (Bedrock), `claude-3-5-sonnet-v2@20241022`
    (Vertex) and `claude-3-5-sonnet-20241022` all give `claude-3-5-sonnet-20241022`.
    """
    # Each rule runs only when the text holds what it needs (a ":", a "-v", ...): most ids
    # need few of them, and a million ids are many substitutions.
    s = model_id.strip().lower()
    variant = ""
    if ":" in s:
        size = _SIZE_TAG.search(s)
        if size:
            s = s[: size.start()] + "-" + size.group(1)
        s = _BEDROCK_REVISION.sub(r"\1", s)  # Bedrock's -v1:0 revision
        match = _VARIANT.search(s)
        if match:
            variant, s = f":{match.group(1)}", s[: match.start()]
    s = s.rsplit("/", 1)[-1]  # routing prefixes: openai/gpt-4o, accounts/fireworks/models/...
    if "." in s:
        s = _BEDROCK_REGION.sub("", s)
        s = _BEDROCK_VENDOR.sub("", s)
    if "-v" in s:
        s = _BEDROCK_DATED.sub(r"\1", s)  # Bedrock: ...-20241022-v2
    if "@" in s:
        s = _VERTEX_AT.sub("-", s)  # Vertex: ...-v2@20241022
    if s.endswith("-maas"):
        s = _MAAS.sub("", s)
    if s[-3:-2] == "-":
        s = _ISO_DATE_END.sub(r"\1\2\3", s)  # 2024-08-06 -> 20240806
    if "p" in s:
        s = _P_DECIMAL.sub(_dotted, s)  # Fireworks: llama-v3p1 -> llama-v3.1
    if "-v" in s:
        s = _V_NUMBER.sub(r"-\1", s)  # llama-v3.1 -> llama-3.1, mimo-v2 -> mimo-2
    if s.startswith(_CREATORS):
        s = _CREATOR_PREFIX.sub("", s)
    s = s.replace("_", "-").replace(" ", "-")
    if "." in s:
        s = _DOT_DECIMAL.sub(_dashed, s)  # 3.5 -> 3-5
        s = _DOT_DECIMAL.sub(_dashed, s)  # again for 3.5.1
    s = _GLUED_NUMBER.sub(_unglued, s)  # qwen2-5 -> qwen-2-5, llama3 -> llama-3
    s = s.replace("-instruct-turbo", "-instruct")
    # Anthropic wrote version-first names up to Claude 3.7 and family-first from Claude 4 on;
    # providers mix both orders.
    if s.startswith("claude-"):
        s = _CLAUDE_OLD.sub(r"claude-\2-\1", s)
        s = _CLAUDE_NEW.sub(r"claude-\2-\1", s)
    while s.endswith(_PRECISION_ENDS) and _PRECISION.search(s):
        s = _PRECISION.sub("", s)
    if "--" in s:
        s = _DASHES.sub("-", s)
    s = s.strip("-.")
    return s + variant


def undated(base: str) -> str:
    """A base id without its trailing date (`gpt-4o-20240806` -> `gpt-4o`), variant kept."""
    core, variant = split_variant(base)
    return _DATE.sub("", core) + variant


def split_variant(base: str) -> tuple[str, str]:
    match = _VARIANT.search(base) if ":" in base else None
    return (base[: match.start()], base[match.start():]) if match else (base, "")


def squashed(base: str) -> str:
    """Letters and digits only, undated: for matching benchmark slugs (`claude-35-sonnet`)."""
    return re.sub(r"[^a-z0-9]", "", undated(split_variant(base)[0]))


@cache
def _packaged_aliases() -> tuple[tuple[str, str], ...]:
    return tuple(_read_aliases(ALIASES_FILE))


def _read_aliases(path: Path) -> Iterable[tuple[str, str]]:
    """`(key, canonical_id)` pairs; the key is `provider|alias` when a row names a provider."""
    with path.open(newline="") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            if row.get("alias") and row.get("canonical_id"):
                provider = (row.get("provider") or "").strip()
                key = base_id(row["alias"])
                yield (f"{canonical_provider(provider)}|{key}" if provider else key,
                       base_id(row["canonical_id"]))


def load_aliases(extra: str | Path | None = None) -> dict[str, str]:
    """The alias table: the packaged `aliases.csv`, then the user's file (which wins)."""
    table = dict(_packaged_aliases())
    extra = extra or os.environ.get(ALIASES_ENV)
    if extra:
        table.update(_read_aliases(Path(extra)))
    return table


@lru_cache(maxsize=1 << 17)
def _own_base(hf: str | None, model_id: str, name: Any) -> str:
    """The base id a row names itself by (see `Resolver._own_base`)."""
    if hf:
        return base_id(hf) + split_variant(base_id(model_id))[1]
    base = base_id(model_id)
    core, variant = split_variant(base)
    # An id that stops at the size while the source's own name says "Instruct"
    # (Vercel's meta/llama-3.1-8b, "Llama 3.1 8B Instruct") is the instruct model.
    if _SIZE_END.search(core) and "instruct" in str(name or "").lower():
        return f"{core}-instruct{variant}"
    return base


class Resolver:
    """Assigns canonical ids, knowing every id the sources currently list."""

    def __init__(self, rows: Iterable[Mapping[str, Any]], aliases: Mapping[str, str] | None = None):
        self.aliases = dict(load_aliases() if aliases is None else aliases)
        # The sources listing each base id: one source's name, or the set of several (most ids
        # have one source; a set apiece would cost a million sets on a million-model source).
        self.sources_of: dict[str, str | set[str]] = {}
        self.snapshots: dict[str, set[str]] = defaultdict(set)
        sources_of = self.sources_of
        for row in rows:
            base, source = self._own_base(row), row.get("source") or ""
            known = sources_of.setdefault(base, source)
            if known != source:
                if isinstance(known, str):
                    sources_of[base] = {known, source}
                else:
                    known.add(source)
            if _DATE.search(split_variant(base)[0]):
                self.snapshots[undated(base)].add(base)

    @staticmethod
    def _own_base(row: Mapping[str, Any]) -> str:
        return _own_base(row.get("hugging_face_id"), row.get("model_id") or "", row.get("name"))

    def known_elsewhere(self, base: str, source: str | None) -> bool:
        known = self.sources_of.get(base)
        if known is None:
            return False
        if isinstance(known, str):
            return known != source
        return bool(known - {source})

    def canonical_id(self, row: Mapping[str, Any]) -> str:
        source = row.get("source")
        base = self._own_base(row)
        extra = row.get("extra") or {}
        slug = extra.get("canonical_slug")
        if slug and not row.get("hugging_face_id"):
            dated = base_id(slug)
            if dated != base and _DATE.search(dated) and self.known_elsewhere(dated, source):
                base = dated
        if not self.known_elsewhere(base, source) and isinstance(extra.get("match"), dict):
            base = self._from_match(extra["match"], source) or base
        return self._resolve(base, row.get("provider"))

    def _resolve(self, base: str, provider: str | None = None) -> str:
        core, variant = split_variant(base)
        for key, suffix in ((f"{provider}|{base}", ""), (f"{provider}|{core}", variant),
                            (base, ""), (core, variant)):
            if key in self.aliases:
                return self.aliases[key] + suffix
        if not _DATE.search(core):
            dated = self.snapshots.get(core, set())
            if len(dated) == 1:
                return next(iter(dated)) + variant
        return base

    def _from_match(self, rule: Mapping[str, Any], source: str | None) -> str | None:
        """The first exact id of a genai-prices match rule that another source lists."""
        for value in _equals(rule):
            candidate = base_id(value)
            if self.known_elsewhere(candidate, source):
                return candidate
        return None


def _equals(rule: Any) -> list[str]:
    if isinstance(rule, Mapping):
        if isinstance(rule.get("equals"), str):
            return [rule["equals"]]
        out: list[str] = []
        for key in ("or", "and"):
            for sub in rule.get(key) or []:
                out.extend(_equals(sub))
        return out
    return []
