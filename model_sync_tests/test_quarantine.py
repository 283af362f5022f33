"""Entry-level quarantine on payloads derived from the real recordings: an odd entry among
thousands is rejected and reported, keys that are not models are skipped, and a payload with
too many malformed entries is blocked with the previous rows kept."""

import hashlib
import json
from pathlib import Path

import dagster as dg
import pytest

from model_sync.definitions import defs
from model_sync.defs.resources import HttpClientResource
from model_sync_tests.conftest import needs_shared

pytestmark = needs_shared

LITELLM = "2026-04-02"


def write(root: Path, source: str, day: str, payload) -> None:
    folder = root / source
    folder.mkdir(parents=True, exist_ok=True)
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    (folder / f"{day}.json").write_bytes(body)


def sync(root: Path, catalog_db, source: str, day: str, config: dict | None = None):
    http = HttpClientResource(replay_dir=str(root), replay_date=day)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(list(defs.assets), selection=[source], instance=instance,
                            resources={"http": http, "catalog_db": catalog_db},
                            raise_on_error=False,
                            run_config={"ops": {source: {"config": config or {}}}})
    return result


def checksum(rows) -> str:
    text = json.dumps(sorted(rows, key=lambda r: r["source_key"]), default=str, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def check(result, name: str):
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def materialized_metadata(result) -> dict:
    [event] = result.get_asset_materialization_events()
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


@pytest.fixture
def litellm(payloads) -> dict:
    return json.loads((payloads / "litellm" / f"{LITELLM}.json").read_bytes())


def test_non_model_keys_are_skipped_and_a_handful_of_bad_entries_rejected(litellm, tmp_path,
                                                                         catalog_db):
    payload = dict(litellm)
    # Keys LiteLLM adds beside its models: a stamp, metadata, a rule set.
    payload["_meta"] = {"generated_by": "a script", "schema_version": 3}
    payload["provider_routing_rules"] = {"rules": [{"match": "gpt-*", "route": "openai"}]}
    models = [k for k, v in litellm.items() if isinstance(v, dict) and k != "sample_spec"]
    for key in models[10:12]:  # a required field gone
        payload[key] = {k: v for k, v in payload[key].items() if k != "litellm_provider"}
    for key in models[20:22]:  # a price that is not a number
        payload[key] = dict(payload[key], input_cost_per_token="free")
    body = json.dumps(payload).encode()
    duplicate = models[30]  # the same key again, with another price: neither copy is taken
    again = json.dumps({duplicate: dict(litellm[duplicate], input_cost_per_token=9e-05)})
    body = body[:-1] + b", " + again[1:].encode()
    write(tmp_path, "litellm", LITELLM, body)

    result = sync(tmp_path, catalog_db, "litellm", LITELLM)

    assert result.success
    meta = materialized_metadata(result)
    assert meta["rejected_entries"] == 5
    assert meta["not_model_entries"] == 4  # sample_spec, last_updated, _meta, the rule set
    assert meta["rows"] == len(models) - 5
    examples = {r.data["source_key"]: r.data["reason"] for r in meta["rejected_examples"].records}
    assert examples[models[10]] == "field 'litellm_provider': required field is missing"
    assert examples[models[20]] == "field 'input_cost_per_token': expected a number, got 'free'"
    assert examples[duplicate].startswith("the key appears 2 times in the payload")
    warning = check(result, "litellm_rejected_entries")
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert warning.description.startswith(f"litellm: 5 of {len(models):,} entries rejected")
    stored = catalog_db.store().rejections("litellm")
    assert {r["source_key"] for r in stored} == {*models[10:12], *models[20:22], duplicate}
    assert all(r["run_id"] == result.run_id and r["excerpt"] for r in stored)
    assert catalog_db.store().source_count("litellm") == len(models) - 5


def test_five_percent_malformed_is_blocked_and_the_previous_rows_stay(litellm, tmp_path,
                                                                       catalog_db):
    write(tmp_path, "litellm", LITELLM, litellm)
    assert sync(tmp_path, catalog_db, "litellm", LITELLM).success
    before = catalog_db.store().source_rows("litellm")
    models = [k for k, v in litellm.items() if isinstance(v, dict) and k != "sample_spec"]
    broken = dict(litellm)
    for key in models[:: 20]:  # every 20th model: 5%
        broken[key] = {k: v for k, v in litellm[key].items() if k != "litellm_provider"}
    write(tmp_path, "litellm", "2026-04-03", broken)

    result = sync(tmp_path, catalog_db, "litellm", "2026-04-03")

    assert not result.success
    blocked = check(result, "litellm_rejected_entries")
    assert not blocked.passed and blocked.severity == dg.AssetCheckSeverity.ERROR
    assert "the last good rows are kept" in blocked.description
    store = catalog_db.store()
    after = store.source_rows("litellm")
    assert len(after) == len(before) == len(models)
    assert checksum(after) == checksum(before)
    last = store.sync_history("litellm", limit=1)[0]
    assert last["status"] == "blocked" and "entries rejected" in last["error"]
    assert len(store.rejections("litellm")) == len(models[:: 20])


def test_the_threshold_is_a_run_setting(litellm, tmp_path, catalog_db):
    models = [k for k, v in litellm.items() if isinstance(v, dict) and k != "sample_spec"]
    broken = dict(litellm)
    for key in models[:: 20]:
        broken[key] = {k: v for k, v in litellm[key].items() if k != "litellm_provider"}
    write(tmp_path, "litellm", LITELLM, broken)
    result = sync(tmp_path, catalog_db, "litellm", LITELLM, {"max_rejected_share": 0.1})
    assert result.success
    assert check(result, "litellm_rejected_entries").severity == dg.AssetCheckSeverity.WARN


def test_a_list_payload_rejects_odd_entries_and_repeated_ids_that_differ(payloads, tmp_path,
                                                                         catalog_db):
    payload = json.loads((payloads / "openrouter" / "2026-08-19.json").read_bytes())
    data = payload["data"]
    first = data[0]
    data.insert(5, "not an object")
    data.insert(9, {k: v for k, v in data[9].items() if k != "id"})
    data.append(dict(first, pricing=dict(first["pricing"], prompt="0.5")))  # same id, new price
    data.append(dict(data[1]))  # a repeat with the same content: kept once, not rejected
    payload["links"] = {}
    write(tmp_path, "openrouter", "2026-08-19", payload)

    result = sync(tmp_path, catalog_db, "openrouter", "2026-08-19")

    assert result.success
    reasons = {r["source_key"]: r["reason"] for r in catalog_db.store().rejections("openrouter")}
    assert reasons == {
        "#5": "expected an object, got a JSON string",
        "#9": "field 'id': required field is missing",
        first["id"]: "the id appears 2 times in the payload with different values; none is "
                     "taken",
    }
    assert catalog_db.store().source_count("openrouter") == 414 - 1


def test_a_wrong_payload_as_a_whole_still_fails_the_sync(tmp_path, catalog_db):
    write(tmp_path, "openrouter", "2026-08-19", {"models": []})
    result = sync(tmp_path, catalog_db, "openrouter", "2026-08-19", {"min_rows": 0})
    assert not result.success
    [failure] = result.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith("openrouter: expected the 'data' field of the response")


def test_normalize_prints_the_good_rows_and_one_line_about_the_rejected(litellm, tmp_path,
                                                                        capsys):
    from model_sync.cli import main

    models = [k for k, v in litellm.items() if isinstance(v, dict) and k != "sample_spec"]
    few = dict(litellm)
    for key in models[:3]:
        few[key] = dict(few[key], input_cost_per_token="n/a")
    path = tmp_path / f"{LITELLM}.json"
    path.write_text(json.dumps(few))
    assert main(["normalize", "litellm", str(path)]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == len(models) - 3
    assert err.splitlines() == [
        f"model-sync: litellm: 3 of {len(models):,} entries rejected (0.1%, within the allowed "
        f"2.0%): field 'input_cost_per_token': expected a number, got 'n/a' (3); "
        f"e.g. {models[0]!r}"]

    many = dict(litellm)
    for key in models[:: 20]:
        many[key] = dict(many[key], input_cost_per_token="n/a")
    path.write_text(json.dumps(many))
    assert main(["normalize", "litellm", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "over the allowed 2.0%" in err and len(err.splitlines()) == 1
    assert main(["normalize", "litellm", str(path), "--max-rejected-share", "0.1"]) == 0
