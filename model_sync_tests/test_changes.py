"""The change feed: `model-sync changes` over a replayed OpenRouter snapshot pair, its feeds read
back by a feed parser, and the digest posted once per catalog build to a real webhook."""

import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import feedparser
import pytest

from model_sync.catalog import CATALOG
from model_sync.cli import main
from model_sync.definitions import defs
from model_sync.defs.digest import ChangeDigest, change_digest_sensor
from model_sync.defs.resources import HttpClientResource
from model_sync_tests.conftest import needs_shared
from model_sync_tests.http_servers import Receiver

pytestmark = needs_shared


def sync(catalog_db, payloads, day, **config):
    http = HttpClientResource(replay_dir=str(payloads), replay_date=day)
    result = dg.materialize(list(defs.assets), selection=["openrouter"], raise_on_error=False,
                            instance=dg.DagsterInstance.ephemeral(),
                            resources={"http": http, "catalog_db": catalog_db},
                            run_config={"ops": {"openrouter": {"config": {"min_rows": 1,
                                                                          **config}}}})
    assert result.success


@pytest.fixture
def pair(catalog_db, payloads, monkeypatch):
    """OpenRouter's 2026-01-05 snapshot, then its 2026-03-10 one: 43 added, 48 removed."""
    sync(catalog_db, payloads, "2026-01-05")
    first = catalog_db.store().last_change_id()
    sync(catalog_db, payloads, "2026-03-10")
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", catalog_db.url)
    return first


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(["changes", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_changes_lists_the_events_with_old_new_and_the_relative_change(pair, capsys, catalog_db):
    code, out, _ = run(capsys, "--json")
    assert code == 0
    events = json.loads(out)
    later = [e for e in events if e["id"] > pair]
    kinds = {kind: sum(1 for e in later if e["change"] == kind) for kind in
             ("added", "removed", "repriced")}
    assert kinds["added"] == 43 and kinds["removed"] == 48 and kinds["repriced"] > 0
    repriced = next(e for e in later if e["change"] == "repriced" and e["old"] and e["new"])
    old, new = Decimal(repriced["old"]), Decimal(repriced["new"])
    assert Decimal(repriced["relative_change"]) == (new - old) / old  # exact, no float

    code, out, _ = run(capsys, "--kind", "repriced", "--min-change", "0.5")
    lines = out.splitlines()[1:]
    assert code == 0 and lines and all(" repriced " in line for line in lines)
    kept = [e for e in later if e["change"] == "repriced" and (
        e["relative_change"] is None or abs(Decimal(e["relative_change"])) >= Decimal("0.5"))]
    assert len(lines) == len(kept) < kinds["repriced"]
    code, out, _ = run(capsys, "--provider", "nobody")
    assert (code, out.strip()) == (0, "No change matches.")


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "last tuesday"], "--since must be a date, a time or a duration"),
    (["--kind", "vanished"], "unknown kind vanished"),
    (["--min-change", "lots"], "--min-change must be a share such as 0.05"),
])
def test_a_bad_argument_is_one_line(pair, capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "" and err.startswith(f"model-sync: {message}")


def test_the_feeds_are_read_back_by_a_feed_parser(pair, capsys, tmp_path):
    atom = tmp_path / "a.xml"
    assert run(capsys, "--since", "1h", "--format", "atom", "--out", str(atom))[0] == 0
    parsed = feedparser.parse(str(atom))
    assert not parsed.bozo and parsed.feed.title == "model_sync catalog changes"
    _, out, _ = run(capsys, "--since", "1h", "--json")
    assert len(parsed.entries) == len(json.loads(out)) > 100
    assert {e.tags[0].term for e in parsed.entries} >= {"added", "removed", "repriced"}
    assert run(capsys, "--format", "jsonfeed", "--out", str(tmp_path / "f.json"))[0] == 0
    document = json.loads(Path(tmp_path / "f.json").read_text())
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert len(document["items"]) == len(parsed.entries)


def build_catalog(instance):
    instance.report_runless_asset_event(dg.AssetMaterialization(CATALOG))


def tick(instance, catalog_db, digest, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={
        "catalog_db": catalog_db, "change_digest": digest})
    result = change_digest_sensor.evaluate_tick(context)
    return result, context.cursor


def test_the_digest_posts_once_per_build_what_changed(catalog_db, payloads):
    receiver = Receiver()
    with receiver.running(), dg.instance_for_test() as instance:
        digest = ChangeDigest(url=receiver.url)
        sync(catalog_db, payloads, "2026-01-05")
        build_catalog(instance)
        _, cursor = tick(instance, catalog_db, digest)
        assert receiver.posts == []  # the first build seen starts the feed: no history posted
        result, again = tick(instance, catalog_db, digest, cursor)
        assert receiver.posts == [] and again == cursor  # no build since: nothing
        assert result.skip_message == "no catalog build since the last digest"

        sync(catalog_db, payloads, "2026-03-10")
        build_catalog(instance)
        _, cursor = tick(instance, catalog_db, digest, cursor)
        [posted] = receiver.texts
        assert posted.startswith(":newspaper: model_sync: catalog changes: 43 added, 48 removed, ")
        assert "repriced" in posted.splitlines()[0] and "%)" in posted
        build_catalog(instance)  # a build with nothing new: no message
        tick(instance, catalog_db, digest, cursor)
        assert len(receiver.posts) == 1
        assert receiver.url.split("/")[-1] not in json.dumps(receiver.posts)


def test_the_digest_keeps_what_its_filters_ask_for_and_can_post_json(catalog_db, payloads):
    receiver = Receiver()
    with receiver.running(), dg.instance_for_test() as instance:
        sync(catalog_db, payloads, "2026-01-05")
        build_catalog(instance)
        quiet = ChangeDigest(url=receiver.url, providers=["anthropic"])
        _, cursor = tick(instance, catalog_db, quiet)
        sync(catalog_db, payloads, "2026-03-10")
        build_catalog(instance)
        result, cursor = tick(instance, catalog_db, quiet, cursor)
        assert receiver.posts == []  # only OpenRouter changed: nothing matched
        assert result.skip_message == "nothing in this build matched the digest's filters"

        sync(catalog_db, payloads, "2026-08-19", max_removed_share=0.5)  # a big update
        build_catalog(instance)
        as_json = ChangeDigest(url=receiver.url, format="json", min_change="0.5")
        tick(instance, catalog_db, as_json, cursor)
        [body] = receiver.posts
        assert body["source"] == "model_sync" and body["changes"]
        assert all(c["change"] != "repriced" or c["relative_change"] is None
                   or abs(Decimal(c["relative_change"])) >= Decimal("0.5")
                   for c in body["changes"])
        assert sum(body["counts"].values()) == len(body["changes"])
