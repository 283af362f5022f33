"""Overrides: the team's corrections survive every sync. Read and checked line by line, applied
last by the catalog build and the price merge, recorded in the history, checked, listed by
`model-sync overrides`; on the full replayed sync, with the clock under the test's control."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from model_sync.catalog.merge import catalog_key
from model_sync.catalog.overrides import OverridesError, parse_overrides, read_overrides
from model_sync.cli import main
from model_sync.definitions import defs
from model_sync.defs.resources import HttpClientResource
from model_sync.pricing.lookup import Pricer
from model_sync_tests.conftest import REPO, SHARED, Clock

ASSETS = list(defs.assets)
BUILD = ["model_catalog", "prices", "price_history", "catalog_changes"]
GPT4O = ("openrouter", "openai/gpt-4o")  # every source publishes 2.5 / 10 USD per 1M for it
PROVENANCE = {"reason": '"the provider\'s pricing page, 2026-11-02"',
              "author": "ops@example.com"}
MILLION_IN = {"input_tokens": 1_000_000}


@pytest.fixture
def clock(monkeypatch):
    """After the shared replayed sync, whenever the tests run: intervals only move forward."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    clock = Clock(start)
    for module in ("source_assets", "catalog_assets", "derived_assets"):
        monkeypatch.setattr(f"model_sync.defs.{module}.utcnow", clock)
    return clock


def write_overrides(path: Path, *entries: dict[str, str]) -> list[int]:
    """An overrides file of entries (values as YAML text); the line each entry starts on."""
    lines, starts = ["# the team's corrections", "overrides:"], []
    for entry in entries:
        starts.append(len(lines) + 1)
        for i, (key, value) in enumerate({**entry, **PROVENANCE}.items()):
            lines.append(f"  {'- ' if i == 0 else '  '}{key}: {value}")
    path.write_text("\n".join(lines) + "\n")
    return starts


def entry(provider="openrouter", model="openai/gpt-4o", field="input_price", value='"2.2"',
          **more) -> dict[str, str]:
    return {"provider": provider, "model": model, "field": field, "value": value, **more}


@pytest.fixture
def overrides_path(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "overrides.yaml"
    monkeypatch.setenv("MODEL_SYNC_OVERRIDES_FILE", str(path))
    return path


def build(catalog_db, selection=BUILD, http=None) -> dg.ExecuteInProcessResult:
    return dg.materialize(ASSETS, selection=selection, instance=dg.DagsterInstance.ephemeral(),
                          resources={"http": http or HttpClientResource(),
                                     "catalog_db": catalog_db}, raise_on_error=False)


def catalog_row(store, provider, model):
    return next(r for r in store.catalog_rows()
                if catalog_key(r["provider"], r["model_id"]) == catalog_key(provider, model))


def checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def override_events(store, run_id):
    return [(e["change"], e["field"], e["old_value"], e["new_value"]) for e in store.changes()
            if e["source"] == "override" and e["run_id"] == run_id]


def cost(store, provider, model, usage=MILLION_IN, **options):
    return Pricer(store).cost(provider, model, usage, **options)


def resync_openrouter(tmp_path, catalog_db, prompt: str) -> dg.ExecuteInProcessResult:
    """A later OpenRouter payload, derived from the recording: gpt-4o's input price changed."""
    body = json.loads((SHARED / "openrouter" / "2026-08-19.json").read_text())
    [model] = [m for m in body["data"] if m["id"] == GPT4O[1]]
    model["pricing"]["prompt"] = prompt
    root = tmp_path / "later"
    (root / "openrouter").mkdir(parents=True)
    (root / "openrouter" / "2026-08-20.json").write_text(json.dumps(body))
    return build(catalog_db, ["openrouter", *BUILD], HttpClientResource(replay_dir=str(root)))


# -- the file --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "line", "message"), [
    ("overrides:\n  - provider: a\n    model: b: c\n", 3, "not valid YAML (mapping values "),
    ("overrides:\n  - provider: a\n\tmodel: b\n", 3, "not valid YAML (found character"),
    ("- provider: openrouter\n", 1, "expected a mapping with one key, `overrides:`"),
    ("overrides:\n  provider: openrouter\n", 2, "`overrides` must be a list of entries"),
    ("overrides:\n  - just text\n", 2, "an entry must be a mapping"),
    ("overrides:\n  - provider: a\n    model: b\n    field: input_pric\n    value: 1\n", 2,
     "unknown field 'input_pric'"),
    ("overrides:\n  - provider: a\n    model: b\n    field: input_price\n    value: 2,5\n", 2,
     "input_price must be an exact decimal"),
    ("overrides:\n  - provider: a\n    model: b\n    field: output_price\n    value: -1\n", 2,
     "output_price must not be negative"),
    ("overrides:\n  - provider: a\n    model: b\n    field: input_price\n    value: 2500\n", 2,
     "above 1,000 USD per 1M tokens"),
    ("overrides:\n  - provider: a\n    model: b\n    field: context_window\n    value: 1.5\n",
     2, "context_window must be a whole number"),
    ("overrides:\n  - provider: a\n    model: b\n    field: served\n    value: nope\n", 2,
     "served must be true or false"),
    ("overrides:\n  - provider: a\n    model: b\n    field: input\n    mode: cheap\n"
     "    value: 1\n", 2, "unknown mode 'cheap'"),
    ("overrides:\n  - provider: a\n    model: b\n    field: input_price\n    region: eu\n"
     "    value: 1\n", 2, "region apply to a price component"),
    ("overrides:\n  - provider: a\n    model: b\n    field: input_price\n    value: 1\n"
     "    colour: red\n", 2, "unknown key 'colour'"),
])
def test_a_malformed_entry_is_one_line_naming_the_file_and_line(text, line, message):
    provenance = "".join(f"    {k}: {v}\n" for k, v in PROVENANCE.items())
    document = text + (provenance if text.startswith("overrides:\n  - provider") else "")
    with pytest.raises(OverridesError) as caught:
        parse_overrides(document, "team.yaml")
    assert str(caught.value).startswith(f"team.yaml:{line}: ")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_provenance_dates_and_repeats_are_checked(tmp_path):
    path = tmp_path / "o.yaml"
    starts = write_overrides(path, entry(), entry(field="output_price", expires="2027-02-30"))
    with pytest.raises(OverridesError, match=rf"o.yaml:{starts[1]}: expires must be a date"):
        read_overrides(path)
    path.write_text(f"overrides:\n  - {{provider: a, model: b, field: input_price, value: 1, "
                    f"author: {PROVENANCE['author']}}}\n")
    with pytest.raises(OverridesError, match=r"o.yaml:2: missing reason \(every override"):
        read_overrides(path)
    starts = write_overrides(path, entry(), entry(model="OpenAI/GPT-4o", field="input"))
    with pytest.raises(OverridesError, match=rf":{starts[1]}: .* already overridden on line "
                                             rf"{starts[0]}"):
        read_overrides(path)
    with pytest.raises(OverridesError, match="MODEL_SYNC_OVERRIDES_FILE=.*cannot read it"):
        read_overrides(tmp_path / "missing.yaml")


def test_the_example_file_is_valid_and_exact():
    example = read_overrides(REPO / "deploy" / "overrides.example.yaml")
    first = example.entries[0]
    assert (first.provider, first.model, first.field) == (*GPT4O, "input_price")
    assert first.value == Decimal("2.5") and first.reason and first.author
    assert {e.field for e in example.entries} >= {"input_price", "context_window", "served",
                                                  "input"}


# -- the catalog build -----------------------------------------------------------------------


def test_an_override_is_applied_priced_and_survives_two_syncs(replayed_db, overrides_path,
                                                             clock, tmp_path):
    write_overrides(overrides_path, entry(value='"2.2"'),
                    entry("openai", "gpt-4o", "input", "1.0", mode="batch"))
    store = replayed_db.store()
    first = build(replayed_db)
    assert first.success
    row = catalog_row(store, *GPT4O)
    assert row["input_price"] == Decimal("2.2") and row["output_price"] == Decimal(10)
    assert row["field_sources"]["input_price"] == "override"
    assert row["field_sources"]["output_price"] == "openrouter"
    meta = first.asset_materializations_for_node("model_catalog")[0].metadata
    assert meta["overrides_applied"].value == 2 and meta["overrides_unmatched"].value == 0
    assert "| applied | 2 |" in meta["overrides"].value
    # The cost of a request prices with it: the headline price is the standard input price.
    later = clock.now + timedelta(hours=1)
    priced = cost(store, *GPT4O, at=later)
    assert priced.total == Decimal("2.2") and priced.components[0].source == "override"
    # A component override replaces that component of its set only.
    batch = cost(store, "openai", "gpt-4o", {"input_tokens": 10**6, "output_tokens": 10**6},
                 mode="batch", at=later)
    assert [(c.component, c.price, c.source) for c in batch.components] == [
        ("input", Decimal("1.0"), "override"), ("output", Decimal(5), "litellm")]
    # The history records it like any other change.
    assert override_events(store, first.run_id) == [("price_changed", "input_price", "2.5",
                                                     "2.2")]
    [interval] = [i for i in store.price_intervals(provider="openrouter", model_id=GPT4O[1])
                  if i["source"] == "override"]
    assert (interval["input_price"], interval["output_price"]) == (Decimal("2.2"), Decimal(10))
    assert interval["valid_from"] == clock.now and interval["valid_to"] is None
    assert checks(first)["price_history_consistent"].passed  # the repair leaves it alone

    clock.now += timedelta(days=1)
    second = resync_openrouter(tmp_path, replayed_db, prompt="0.000003")
    assert second.success
    listed = {s["source_key"]: s for s in store.source_rows("openrouter")}
    assert listed[GPT4O[1]]["input_price"] == Decimal(3)
    row = catalog_row(store, *GPT4O)
    assert row["input_price"] == Decimal("2.2")
    assert row["field_sources"]["input_price"] == "override"
    assert override_events(store, second.run_id) == []  # the catalog's value did not move
    assert cost(store, *GPT4O, at=clock.now + timedelta(hours=1)).total == Decimal("2.2")
    assert checks(second)["price_history_consistent"].passed
    assert [i for i in store.price_intervals(provider="openrouter", model_id=GPT4O[1])
            if i["source"] == "override"] == [interval]  # the same interval, still in force


def test_an_expired_override_is_not_applied_and_warns(replayed_db, overrides_path, clock):
    store = replayed_db.store()
    ends = (clock.now + timedelta(days=2)).date()
    [line] = write_overrides(overrides_path, entry(expires=ends.isoformat()))
    applied = build(replayed_db)
    assert catalog_row(store, *GPT4O)["input_price"] == Decimal("2.2")
    assert checks(applied)["model_catalog_overrides_current"].passed
    during = clock.now + timedelta(hours=1)

    clock.now = datetime.combine(ends, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    expired = build(replayed_db)
    assert expired.success
    row = catalog_row(store, *GPT4O)
    assert row["input_price"] == Decimal("2.5")
    assert row["field_sources"]["input_price"] == "openrouter"
    check = checks(expired)["model_catalog_overrides_current"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert f"{overrides_path}:{line} openrouter/openai/gpt-4o input_price" in check.description
    meta = expired.asset_materializations_for_node("model_catalog")[0].metadata
    assert meta["overrides_expired"].value == 1 and meta["overrides_applied"].value == 0
    # Its end is a change back, and its interval ends; a request made while it applied still
    # costs its price.
    assert override_events(store, expired.run_id) == [("price_changed", "input_price", "2.2",
                                                       "2.5")]
    [interval] = [i for i in store.price_intervals(provider="openrouter", model_id=GPT4O[1])
                  if i["source"] == "override"]
    assert interval["valid_to"] == clock.now
    assert cost(store, *GPT4O, at=during).total == Decimal("2.2")
    assert cost(store, *GPT4O, at=clock.now + timedelta(hours=1)).total == Decimal("2.5")


def test_a_redundant_override_warns_and_an_unmatched_one_errors_without_blocking(
        replayed_db, overrides_path, clock):
    lines = write_overrides(overrides_path, entry(field="output_price", value="10.00"),
                            entry("openrouter", "openai/gpt-9", "context_window", "1000000"),
                            entry("amazon-bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
                            entry(field="context_window", value="100000"))
    store = replayed_db.store()
    result = build(replayed_db)
    assert result.success  # published: the others still apply
    found = checks(result)
    redundant = found["model_catalog_overrides_needed"]
    assert not redundant.passed and redundant.severity == dg.AssetCheckSeverity.WARN
    assert f":{lines[0]} openrouter/openai/gpt-4o output_price" in redundant.description
    unmatched = found["model_catalog_overrides_matched"]
    assert not unmatched.passed and unmatched.severity == dg.AssetCheckSeverity.ERROR
    assert f"{overrides_path}:{lines[1]} openrouter/openai/gpt-9" in unmatched.description
    assert f":{lines[2]} amazon-bedrock/" in unmatched.description
    assert "the catalog spells the provider 'bedrock'" in unmatched.description
    row = catalog_row(store, *GPT4O)
    assert row["context_window"] == 100_000
    assert row["field_sources"]["context_window"] == "override"
    assert override_events(store, result.run_id) == [
        ("context_changed", "context_window", "128000", "100000")]
    meta = result.asset_materializations_for_node("model_catalog")[0].metadata
    assert [meta[f"overrides_{s}"].value for s in ("applied", "redundant", "unmatched")] == [
        1, 1, 2]


def test_an_offering_marked_not_served_leaves_the_active_catalog(replayed_db, overrides_path,
                                                                 clock):
    write_overrides(overrides_path, entry(field="served", value="false"))
    store = replayed_db.store()
    assert build(replayed_db, ["model_catalog"]).success
    row = catalog_row(store, *GPT4O)
    assert row["state"] == "unlisted" and row["field_sources"]["state"] == "override"
    assert GPT4O[1] not in {r["model_id"] for r in store.catalog_rows(active_only=True)
                            if r["provider"] == "openrouter"}


MISSING_REASON = ("overrides:\n  - provider: openrouter\n    model: openai/gpt-4o\n"
                  "    field: input_price\n    value: 2.2\n    author: ops@example.com\n")


@pytest.mark.parametrize(("text", "line", "problem"), [
    (MISSING_REASON, 2, "missing reason (every override needs provider, model, field, value, "
                        "reason, author)"),
    (MISSING_REASON.replace("value: 2.2", "value: -2.2") + "    reason: typo\n", 2,
     "input_price must not be negative, got -2.2"),
    ("overrides:\n  - {provider: openrouter, model: openai/gpt-4o\n", 3, "not valid YAML"),
])
def test_a_malformed_file_keeps_the_previous_catalog(replayed_db, overrides_path, clock, text,
                                                     line, problem):
    store = replayed_db.store()
    before = {(r["provider"], r["model_id"]): r["content_hash"] for r in store.catalog_rows()}
    overrides_path.write_text(text)
    result = build(replayed_db)
    assert not result.success
    [failure] = result.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith(f"model_catalog: not built: {overrides_path}:{line}: "
                                  f"{problem}") and "\n" not in description
    assert "traceback" not in failure.step_failure_data.user_failure_data.metadata
    assert result.asset_materializations_for_node("model_catalog") == []
    after = {(r["provider"], r["model_id"]): r["content_hash"] for r in store.catalog_rows()}
    assert after == before and len(after) > 6000
    [last] = store.sync_history("model_catalog", limit=1)
    assert last["status"] == "failed" and f"{overrides_path}:{line}: {problem}" in last["error"]


def test_the_command_line_says_a_malformed_file_in_one_line(db_url, overrides_path, capsys,
                                                            monkeypatch):
    """As for any bad setting: one line and exit 2, before anything runs."""
    overrides_path.write_text(MISSING_REASON)
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", db_url)
    assert main(["sync", "--select", "openrouter"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"model-sync: {overrides_path}:2: missing reason (every override needs " \
                  "provider, model, field, value, reason, author)"
    assert main(["overrides"]) == 2 and capsys.readouterr().err.strip() == err
    assert not (Path(db_url.removeprefix("sqlite:///"))).exists()  # nothing ran
    monkeypatch.delenv("MODEL_SYNC_OVERRIDES_FILE")
    assert main(["overrides"]) == 2
    assert capsys.readouterr().err.strip() == ("model-sync: no overrides file: set "
                                               "MODEL_SYNC_OVERRIDES_FILE")


def test_the_overrides_command_lists_states_beside_the_sources(replayed_db, overrides_path,
                                                              clock, capsys, monkeypatch):
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", replayed_db.url)
    lines = write_overrides(overrides_path, entry(), entry(field="output_price", value="10"),
                            entry(field="max_output_tokens", value="4096", expires="2020-01-01"),
                            entry(model="openai/gpt-9"))
    assert main(["overrides", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["overrides"]
    assert [(o["line"], o["state"]) for o in listed] == list(zip(
        lines, ["applied", "redundant", "expired", "unmatched"], strict=True))
    assert listed[0]["value"] == "2.2" and listed[0]["merged"] == "2.5"
    assert listed[0]["sources"] == {"genai_prices": "2.5", "litellm": "2.5",
                                    "models_dev": "2.5", "openrouter": "2.5"}
    assert listed[2]["sources"]["litellm"] == 4096 and listed[2]["expires"] == "2020-01-01"
    assert main(["overrides"]) == 0
    table = capsys.readouterr().out
    assert f"{lines[3]:>5}  unmatched  openrouter/openai/gpt-9 input_price" in table
