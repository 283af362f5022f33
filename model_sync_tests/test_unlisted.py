"""Who serves which model, on the recorded payloads: a provider's own API, once synced, decides;
the curated offerings it does not list stay in the catalog as `unlisted`, out of what is served."""

import csv
import io
import json
from collections import defaultdict
from decimal import Decimal

import dagster as dg

from model_sync.catalog.money import exact_json
from model_sync.catalog.schema import PRICE_FIELDS
from model_sync.cli import main
from model_sync.definitions import defs
from model_sync.defs.resources import HttpClientResource

ASSETS = list(defs.assets)
OWN_APIS = ("openrouter", "groq", "deepinfra")
CURATED = ("models_dev", "litellm", "genai_prices")


def materialize(http, catalog_db, selection):
    return dg.materialize(ASSETS, selection=list(selection),
                          instance=dg.DagsterInstance.ephemeral(),
                          resources={"http": http, "catalog_db": catalog_db}, raise_on_error=False)


def catalog_metadata(result):
    meta = result.asset_materializations_for_node("model_catalog")[0].metadata
    return {k: getattr(v, "value", v) for k, v in meta.items()}


def checks(result):
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def replay_dir(tmp_path, payloads, own: tuple[str, ...] = ()):
    """The shared recordings linked into a replay dir; the `own` sources get an empty folder of
    their own, for payloads the test derives from the shared ones."""
    root = tmp_path / "replay"
    root.mkdir()
    for folder in payloads.iterdir():
        if folder.is_dir() and folder.name not in own:
            (root / folder.name).symlink_to(folder, target_is_directory=True)
    for name in own:
        (root / name).mkdir()
    return root


def export_keys(monkeypatch, capsys, url, *flags):
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", url)
    capsys.readouterr()
    assert main(["export", "--format", "csv", *flags]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    return {(r["provider"], r["model_id"]): r["state"] for r in rows}


def test_own_apis_decide_what_openrouter_groq_and_deepinfra_serve(replay_http, catalog_db,
                                                                  monkeypatch, capsys):
    result = materialize(replay_http, catalog_db, [*OWN_APIS, *CURATED, "model_catalog", "models"])
    assert result.success
    assert all(e.passed for e in checks(result).values())
    store = catalog_db.store()
    catalog = store.catalog_rows()
    unlisted = [r for r in catalog if r["state"] == "unlisted"]

    for provider in OWN_APIS:
        listed = {r["model_id"].casefold() for r in store.source_rows(provider, active_only=True)}
        offered = [r for r in catalog if r["provider"] == provider]
        assert {r["model_id"].casefold() for r in offered if r["state"] == "active"} == listed
        rest = [r for r in offered if r["model_id"].casefold() not in listed]
        assert rest, provider  # the curated databases name offerings the API does not list
        assert {r["state"] for r in rest} == {"unlisted"}
        assert all(provider not in r["sources"] for r in rest)
    assert {r["provider"] for r in unlisted} == set(OWN_APIS)

    # Unlisted offerings keep their curated prices, as one set from one source, and lineage.
    curated = defaultdict(list)
    for source in CURATED:
        for r in store.source_rows(source):
            curated[source, r["provider"], r["model_id"].casefold()].append(r)
    priced = [r for r in unlisted if r["price_source"] is not None]
    assert len(priced) > len(unlisted) // 2
    for r in priced:
        candidates = curated[r["price_source"], r["provider"], r["model_id"].casefold()]
        assert any(all(c[p] == r[p] for p in PRICE_FIELDS) for c in candidates), r["model_id"]
        assert {r["field_sources"].get(p) for p in PRICE_FIELDS} - {None} == {r["price_source"]}

    # Providers whose own API is not a source keep their curated offerings.
    for provider in ("anthropic", "openai"):
        states = {r["state"] for r in catalog if r["provider"] == provider}
        assert states == {"active"}, provider

    # The active catalog, the materialization's counts and the minimum leave them out.
    active = store.catalog_rows(active_only=True)
    assert len(active) + len(unlisted) == len(catalog)
    assert "unlisted" not in {r["state"] for r in active}
    assert len(store.catalog_frame()) == len(active)
    assert len(store.catalog_frame(include_unlisted=True)) == len(catalog)
    meta = catalog_metadata(result)
    assert meta["unlisted"] == len(unlisted)
    assert meta["rows"] == meta["dagster/row_count"] == meta["added"] == len(active)
    assert checks(result)["model_catalog_min_rows"].metadata["rows"].value == len(active)

    # The rollup ignores them: no model, provider or cheapest price comes of an unlisted one.
    served = defaultdict(list)
    for r in active:
        served[r["canonical_id"]].append(r)
    models = {m["canonical_id"]: m for m in store.model_rows()}
    assert set(models) == {cid for cid in served if cid}
    assert {r["canonical_id"] for r in unlisted} - set(models)  # served by no one listed
    for cid, model in models.items():
        assert model["provider_ids"] == sorted({r["provider"] for r in served[cid]})
        for side in ("input", "output"):
            provider = model[f"cheapest_{side}_provider"]
            if provider is not None:
                assert any(r["provider"] == provider
                           and r[f"{side}_price"] == model[f"cheapest_{side}_price"]
                           for r in served[cid])
    cheaper = [r for r in unlisted if r["canonical_id"] in models and r["input_price"]
               and models[r["canonical_id"]]["cheapest_input_price"] is not None
               and r["input_price"] < models[r["canonical_id"]]["cheapest_input_price"]]
    assert cheaper  # an unlisted offering would have been the cheapest

    # The export leaves them out unless asked.
    default = export_keys(monkeypatch, capsys, catalog_db.url)
    everything = export_keys(monkeypatch, capsys, catalog_db.url, "--include-unlisted")
    assert set(default) < set(everything)
    assert set(everything) - set(default) == {(r["provider"], r["model_id"]) for r in unlisted}
    assert "unlisted" not in default.values()


def test_a_provider_whose_own_api_never_synced_keeps_its_curated_offerings_until_it_does(
        payloads, tmp_path, catalog_db):
    root = replay_dir(tmp_path, payloads, own=("groq",))
    http = HttpClientResource(replay_dir=str(root))
    assert materialize(http, catalog_db, ["openrouter", *CURATED, "model_catalog"]).success
    store = catalog_db.store()
    groq = {r["model_id"].casefold(): r for r in store.catalog_rows() if r["provider"] == "groq"}
    assert len(groq) > 20 and {r["state"] for r in groq.values()} == {"active"}
    assert {r["state"] for r in store.catalog_rows() if r["provider"] == "openrouter"} == {
        "active", "unlisted"}

    # Groq's own API syncs: its listing decides.
    payload = json.loads((payloads / "groq" / "2026-02-22.json").read_text())
    (root / "groq" / "2026-02-22.json").write_text(json.dumps(payload))
    result = materialize(http, catalog_db, ["groq", "model_catalog"])
    assert result.success
    listed = {m["id"].casefold() for m in payload["data"]}
    states = {r["model_id"].casefold(): r["state"] for r in store.catalog_rows()
              if r["provider"] == "groq"}
    assert {m for m, s in states.items() if s == "active"} == listed
    assert {m for m, s in states.items() if s == "unlisted"} == set(groq) - listed
    before = catalog_metadata(result)

    # It stops listing a model a curated source still lists, then lists it again: an update.
    dropped = sorted(listed & set(groq))[0]
    fewer = dict(payload, data=[m for m in payload["data"] if m["id"].casefold() != dropped])
    (root / "groq" / "2026-02-23.json").write_text(json.dumps(fewer))
    result = materialize(http, catalog_db, ["groq", "model_catalog"])
    assert result.success
    row = next(r for r in store.catalog_rows() if r["model_id"].casefold() == dropped
               and r["provider"] == "groq")
    assert row["state"] == "unlisted" and row["removed_at"] is None
    meta = catalog_metadata(result)
    assert (meta["unlisted"], meta["rows"]) == (before["unlisted"] + 1, before["rows"] - 1)
    assert (meta["added"], meta["updated"], meta["removed"]) == (0, 0, 0)

    (root / "groq" / "2026-02-24.json").write_text(json.dumps(payload))
    result = materialize(http, catalog_db, ["groq", "model_catalog"])
    assert result.success
    states = {r["model_id"].casefold(): r["state"] for r in store.catalog_rows()
              if r["provider"] == "groq"}
    assert states[dropped] == "active"
    meta = catalog_metadata(result)
    assert (meta["unlisted"], meta["rows"]) == (before["unlisted"], before["rows"])
    assert (meta["updated"], meta["restored"], meta["added"]) == (1, 1, 0)


def test_the_catalogs_price_checks_look_at_what_is_published_as_served(payloads, tmp_path,
                                                                        catalog_db):
    root = replay_dir(tmp_path, payloads, own=("litellm",))
    original = payloads / "litellm" / "2026-04-02.json"
    (root / "litellm" / original.name).symlink_to(original)
    http = HttpClientResource(replay_dir=str(root))
    result = materialize(http, catalog_db, ["openrouter", *CURATED, "model_catalog"])
    assert result.success
    withheld = checks(result)["model_catalog_prices_plausible"].metadata["withheld"].value
    store = catalog_db.store()
    catalog = store.catalog_rows()
    keys = defaultdict(list)  # LiteLLM lists some offerings under several keys
    for r in store.source_rows("litellm"):
        keys[r["provider"], r["model_id"]].append(r["source_key"])
    only_litellm = [r for r in catalog if r["sources"] == ["litellm"] and r["input_price"]
                    and len(keys[r["provider"], r["model_id"]]) == 1]
    unlisted = next(r for r in only_litellm if r["state"] == "unlisted")
    served = next(r for r in only_litellm if r["state"] == "active")

    # A unit slip upstream on both: 0.01 USD per token is 10,000 USD per 1M.
    payload = json.loads(original.read_text(), parse_float=Decimal)
    for r in (unlisted, served):
        [key] = keys[r["provider"], r["model_id"]]
        payload[key]["input_cost_per_token"] = Decimal("0.01")
    (root / "litellm" / "2026-04-03.json").write_text(exact_json(payload))
    result = materialize(http, catalog_db, ["litellm", "model_catalog"])
    assert result.success
    flagged = {(r["provider"], r["model_id"]) for r in store.catalog_rows()
               if "implausible_price" in (r["price_flags"] or ())}
    assert {(r["provider"], r["model_id"]) for r in (unlisted, served)} <= flagged
    check = checks(result)["model_catalog_prices_plausible"]
    assert check.passed and check.metadata["withheld"].value == withheld + 1
    sample = check.metadata["sample"].value
    assert f"{served['provider']}/{served['model_id']} (litellm)" in sample
    assert f"{unlisted['provider']}/{unlisted['model_id']} (litellm)" not in sample
