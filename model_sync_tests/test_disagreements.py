"""Source disagreements on the full replayed sync: what independent sources publish differently
(copies aside), the table kept in place across rebuilds (first seen, triage, resolution), the
WARN check of the new ones, `model-sync disagreements`, and LiteLLM's output-limit filler."""

import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from model_sync.catalog.disagreement_store import RESOLVED, disagreement_rows
from model_sync.catalog.disagreements import Slot, compare
from model_sync.catalog.schema import source_disagreements as table
from model_sync.cli import main
from model_sync.definitions import defs
from model_sync.defs.resources import HttpClientResource
from model_sync.sources import SOURCES_BY_NAME
from model_sync_tests.conftest import SHARED, ctx

# On the recordings and this folder's fixtures, after LiteLLM's output-limit filler is read as
# no limit (max_output_tokens was 139 before).
BY_FIELD = {"input": 159, "output": 152, "context_window": 111, "max_output_tokens": 92,
            "cache_read": 36, "input_audio": 4, "cache_write": 1}
LITELLM = SHARED / "litellm" / "2026-04-02.json"


def rows_of(catalog_db) -> list[dict]:
    store = catalog_db.store()
    try:
        return disagreement_rows(store.engine)
    finally:
        store.dispose()


def one(rows, provider, model_id, slot) -> dict:
    [row] = [r for r in rows if (r["provider"], r["model_id"], r["slot"]) ==
             (provider, model_id, slot)]
    return row


def test_the_recordings_disagreements_by_field(replayed, replayed_db):
    rows = rows_of(replayed_db)
    by_field: dict[str, int] = {}
    for r in rows:
        by_field[r["field"]] = by_field.get(r["field"], 0) + 1
    assert by_field == BY_FIELD and {r["state"] for r in rows} == {"open"}
    # LiteLLM's hand-written OpenRouter entry against OpenRouter's API; models.dev's and
    # genai-prices' copies of the API are shown, not counted (genai-prices' differs).
    mythomax = one(rows, "openrouter", "gryphe/mythomax-l2-13b", "input")
    assert mythomax["values"] == {"litellm": Decimal("1.875"), "openrouter": Decimal("0.06")}
    assert mythomax["copies"] == {"genai_prices": Decimal("0.065"), "models_dev": Decimal("0.06")}
    assert mythomax["relative_difference"] == Decimal("30.25")  # (1.875 - 0.06) / 0.06, exact
    assert (mythomax["chosen_value"], mythomax["chosen_source"], mythomax["chosen_by"]) == (
        Decimal("0.06"), "openrouter", "precedence")
    free = one(rows, "google", "gemini-1.5-flash", "output")  # 0 beside 0.3: no ratio
    assert free["relative_difference"] is None and free["values"]["litellm"] == 0
    limit = one(rows, "openrouter", "openai/gpt-4o", "max_output_tokens")
    assert limit["values"] == {"litellm": 4096, "openrouter": 16384} and limit["unit"] == "tokens"
    [materialization] = replayed.result.asset_materializations_for_node("source_disagreements")
    meta = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    assert meta["price_open"] == sum(BY_FIELD.values()) - 111 - 92
    assert meta["token_limit_open"] == 111 + 92 and meta["opened"] == len(rows)
    assert "| google/gemini-1.5-flash | output |" in meta["largest"]  # free beside paid first
    assert f"{len(rows) - 10} more not shown" in meta["largest"]
    [check] = [e for e in replayed.result.get_asset_check_evaluations()
               if e.check_name == "source_disagreements_new_disagreements"]
    # the first build's disagreements are the baseline, not news
    assert check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["new"].value == 0 and check.metadata["open"].value == len(rows)
    assert check.description.startswith(f"first build: {len(rows)} disagreements")


def test_litellm_output_limit_filler_is_no_published_limit():
    """LiteLLM fills max_output_tokens with the input limit where a provider states none."""
    payload = json.loads(LITELLM.read_bytes(), parse_float=Decimal)
    entries = {k: payload[k] for k in ("openrouter/anthropic/claude-sonnet-4.5", "gpt-4o")}
    assert entries["openrouter/anthropic/claude-sonnet-4.5"]["max_output_tokens"] == 1_000_000
    rows = {r["source_key"]: r for r in SOURCES_BY_NAME["litellm"].parse(entries, ctx("litellm"))}
    sonnet = rows["openrouter/anthropic/claude-sonnet-4.5"]
    assert (sonnet["context_window"], sonnet["max_output_tokens"]) == (1_000_000, None)
    assert (rows["gpt-4o"]["context_window"], rows["gpt-4o"]["max_output_tokens"]) == (
        128_000, 16_384)


def test_a_copy_is_not_a_vote():
    only_the_copy_differs = {Slot("input", "standard", None, 0, None):
                             {"openrouter": Decimal("0.06"), "models_dev": Decimal("0.065")}}
    assert compare("openrouter", "a/b", only_the_copy_differs) == []
    # models.dev's own entries of another provider are a vote
    assert len(compare("deepinfra", "a/b", only_the_copy_differs)) == 1
    with_litellm = {slot: {**values, "litellm": Decimal("1.875")}
                    for slot, values in only_the_copy_differs.items()}
    [found] = compare("openrouter", "a/b", with_litellm)
    assert set(found.values) == {"openrouter", "litellm"}
    assert found.copies == {"models_dev": Decimal("0.065")}


def test_tolerances():
    limits = {Slot("context_window"): {"litellm": 131_072, "models_dev": 128_000}}
    assert compare("x", "m", limits) == []  # 128K written two ways: within 5%
    assert len(compare("x", "m", limits, limit_tolerance=Decimal(0))) == 1
    price = {Slot("input", "standard", None, 0, None): {"a": Decimal("1"), "b": Decimal("1.01")}}
    assert len(compare("x", "m", price)) == 1  # exact by default
    assert compare("x", "m", price, price_tolerance=Decimal("0.01")) == []
    free = {Slot("input", "standard", None, 0, None): {"a": Decimal(0), "b": Decimal("0.1")}}
    assert len(compare("x", "m", free, price_tolerance=Decimal(100))) == 1


def build(catalog_db, replay: Path | None = None, **config):
    """Rebuild the disagreements (after re-syncing LiteLLM from `replay`, when given)."""
    selection = ["source_disagreements"]
    if replay is not None:
        selection = ["litellm", "model_catalog", "prices", *selection]
    run_config = {"ops": {"source_disagreements": {"config": config}}} if config else None
    result = dg.materialize(list(defs.assets), selection=selection, raise_on_error=False,
                            instance=dg.DagsterInstance.ephemeral(), run_config=run_config,
                            resources={"http": HttpClientResource(replay_dir=str(replay or ".")),
                                       "catalog_db": catalog_db})
    assert result.success
    [check] = [e for e in result.get_asset_check_evaluations()
               if e.check_name == "source_disagreements_new_disagreements"]
    return check


def test_rebuilds_keep_first_seen_and_triage_and_resolve_what_agrees_again(
        replayed_db, tmp_path, monkeypatch, capsys):
    before = rows_of(replayed_db)
    euryale = one(before, "deepinfra", "Sao10K/L3.3-70B-Euryale-v2.3", "input")
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", replayed_db.url)
    assert main(["disagreements", "--ack", str(euryale["id"]), "--note", "DeepInfra repriced"]) == 0
    assert "acknowledged" in capsys.readouterr().out
    # LiteLLM fixes its OpenRouter MythoMax price and doubles GPT-4o's input price
    payload = json.loads(LITELLM.read_bytes())
    payload["openrouter/gryphe/mythomax-l2-13b"] |= {"input_cost_per_token": 6e-08,
                                                     "output_cost_per_token": 6e-08}
    payload["openrouter/openai/gpt-4o"]["input_cost_per_token"] = 5e-06
    (tmp_path / "replay" / "litellm").mkdir(parents=True)
    (tmp_path / "replay" / "litellm" / LITELLM.name).write_text(json.dumps(payload))
    check = build(replayed_db, tmp_path / "replay")
    after = rows_of(replayed_db)
    for slot in ("input", "output"):
        fixed = one(after, "openrouter", "gryphe/mythomax-l2-13b", slot)
        assert fixed["state"] == RESOLVED and fixed["resolved_at"] is not None
        assert fixed["first_seen_at"] == one(before, "openrouter", "gryphe/mythomax-l2-13b",
                                             slot)["first_seen_at"]
    kept = one(after, "deepinfra", "Sao10K/L3.3-70B-Euryale-v2.3", "input")
    assert (kept["state"], kept["note"]) == ("acknowledged", "DeepInfra repriced")
    assert kept["first_seen_at"] == euryale["first_seen_at"] < kept["last_seen_at"]
    new = one(after, "openrouter", "openai/gpt-4o", "input")
    assert new["values"] == {"litellm": Decimal(5), "openrouter": Decimal("2.5")}
    assert not check.passed and check.metadata["new"].value == 1  # only the new one
    assert "openrouter/openai/gpt-4o input" in check.description
    assert "| openrouter/openai/gpt-4o | input |" in check.metadata["largest"].value
    assert len(after) == len(before) + 1
    again = build(replayed_db)  # nothing new since: the check passes
    assert again.passed and again.metadata["new"].value == 0


def test_tolerance_from_the_assets_config(replayed_db):
    before = rows_of(replayed_db)
    build(replayed_db, price_tolerance=0.5, limit_tolerance=0.0)
    after = {(r["provider"], r["model_id"], r["slot"]): r for r in rows_of(replayed_db)}
    for r in before:
        wide = r["relative_difference"] is None or r["relative_difference"] > Decimal("0.5")
        if r["mode"] is not None:  # prices
            assert after[(r["provider"], r["model_id"], r["slot"])]["state"] == (
                "open" if wide else RESOLVED)
    tight = [r for r in after.values() if r["field"] == "context_window" and r["state"] == "open"]
    assert len(tight) > BY_FIELD["context_window"]  # 128,000 beside 131,072 now differ


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(["disagreements", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_lists_filters_and_acknowledges(replayed_db, monkeypatch, capsys):
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", replayed_db.url)
    code, out, _ = run(capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["id", "state", "offering", "field"]
    assert len(lines) == 1 + sum(BY_FIELD.values())
    assert "free vs paid" in lines[1] and "gryphe/mythomax-l2-13b" in out
    code, out, _ = run(capsys, "--json", "--provider", "openrouter", "--field", "input",
                       "--min-diff", "1")
    found = json.loads(out)
    assert code == 0 and found and all(r["provider"] == "openrouter" and r["field"] == "input"
                                       for r in found)
    assert all(r["relative_difference"] is None or Decimal(r["relative_difference"]) >= 1
                for r in found)
    differences = [Decimal(r["relative_difference"]) for r in found if r["relative_difference"]]
    assert differences == sorted(differences, reverse=True)
    mythomax = next(r for r in found if r["model_id"] == "gryphe/mythomax-l2-13b")
    assert mythomax["values"] == {"litellm": "1.875", "openrouter": "0.06"}
    assert run(capsys, "--ack", str(mythomax["id"]), "--note", "stale LiteLLM entry")[0] == 0
    code, out, _ = run(capsys, "--state", "acknowledged", "--json")
    [acked] = json.loads(out)
    assert (acked["id"], acked["note"]) == (mythomax["id"], "stale LiteLLM entry")
    assert run(capsys, "--state", "resolved") == (0, "No disagreement matches.\n", "")
    assert run(capsys, "--ack", "999999", "--note", "x") == (
        2, "", "model-sync: no disagreement 999999\n")
    with pytest.raises(SystemExit):
        main(["disagreements", "--min-diff", "lots"])


def test_an_empty_catalog_and_a_missing_database_are_one_line(catalog_db, tmp_path, monkeypatch,
                                                               capsys):
    missing = tmp_path / "nowhere" / "catalog.db"
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", f"sqlite:///{missing}")
    assert run(capsys) == (0, f"model-sync: no catalog database at {missing}; run "
                              "`model-sync sync` first\n", "")
    assert not missing.exists()
    catalog_db.store().dispose()  # created, empty
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", catalog_db.url)
    assert run(capsys) == (0, "model-sync: the catalog is empty; run `model-sync sync` first\n",
                           "")
    with sa.create_engine(catalog_db.url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0


def test_sync_passes_the_tolerances_to_the_asset(monkeypatch):
    import model_sync.sync

    seen = {}

    def run_sync(names, **options):
        seen.update(options)
        raise model_sync.sync.SettingsError("stop here")

    monkeypatch.setattr(model_sync.sync, "run_sync", run_sync)
    assert main(["sync", "--price-tolerance", "0.02", "--limit-tolerance", "0"]) == 2
    assert seen["tolerances"] == {"price_tolerance": 0.02, "limit_tolerance": 0.0}
    with pytest.raises(SystemExit):
        main(["sync", "--price-tolerance", "-1"])


def test_the_digest_counts_the_disagreements_opened_since_its_cursor(replayed_db):
    from model_sync.catalog import CATALOG
    from model_sync.catalog.clock import utcnow
    from model_sync.catalog.disagreement_store import record
    from model_sync.catalog.disagreements import Disagreement, find_disagreements
    from model_sync.defs.digest import ChangeDigest, change_digest_sensor
    from model_sync_tests.http_servers import Receiver

    def tick(instance, digest, cursor=None):
        instance.report_runless_asset_event(dg.AssetMaterialization(CATALOG))
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={
            "catalog_db": replayed_db, "change_digest": digest})
        change_digest_sensor.evaluate_tick(context)
        return context.cursor

    receiver = Receiver()
    with receiver.running(), dg.instance_for_test() as instance:
        digest = ChangeDigest(url=receiver.url)
        cursor = tick(instance, digest)  # the first build seen: the recorded ones are history
        store = replayed_db.store()
        try:
            found = find_disagreements(store, at=utcnow())
            slot = Slot("input", "standard", None, 0, None)
            found.append(Disagreement("acme", "fast-1", slot, {"a": Decimal(1), "b": Decimal(2)}))
            record(store.engine, found, now=utcnow())
        finally:
            store.dispose()
        tick(instance, digest, cursor)
        [posted] = receiver.texts
        assert posted.splitlines()[0] == (":newspaper: model_sync: catalog changes: 1 "
                                          "disagreements opened")
