"""`model-sync status`: per source, enabled or why not, its schedule and change sensor as the
Dagster instance holds them, its last run and outcome, and the next tick of its schedule."""

import json
from datetime import UTC, datetime

import dagster as dg
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

from model_sync import status
from model_sync.cli import main

NOW = datetime(2026, 8, 19, 7, 30, tzinfo=UTC)


def toggle(instance: dg.DagsterInstance, schedules=(), sensors=(), stopped=()) -> None:
    """Turn schedules and sensors on (and `stopped` sensors off) as the UI does, in the code
    location `model_sync`."""
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="model_sync.definitions"), location_name="model_sync")
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget([origin])) as process:
        workspace = process.create_request_context()
        repository = workspace.get_code_location("model_sync").get_repository("__repository__")
        for name in schedules:
            instance.start_schedule(repository.get_schedule(name))
        for name in sensors:
            instance.start_sensor(repository.get_sensor(name))
        for name in stopped:
            sensor = repository.get_sensor(name)
            instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)


def test_status_reads_the_toggles_from_the_instance_and_the_runs_from_sync_runs(
        replayed_db, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", replayed_db.url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("MODEL_SYNC_SCHEDULE_LITELLM", "30 */4 * * *")
    monkeypatch.setenv("MODEL_SYNC_TIMEZONE_LITELLM", "Europe/Berlin")
    monkeypatch.setenv("GROQ_API_KEY", "gsk_" + "k" * 40)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        toggle(instance, schedules=["openrouter_schedule", "litellm_schedule", "xai_schedule"],
               sensors=["models_dev_change_sensor"], stopped=["alert_sensor"])
        assert status.command(True, now=NOW, instance=instance) == 0
    document = json.loads(capsys.readouterr().out)
    rows = {s["name"]: s for s in document["sources"]}
    assert rows["openrouter"]["schedule"] == {"name": "openrouter_schedule", "on": True,
                                              "stored": True}
    assert rows["openrouter"]["next_tick"] == "2026-08-19T12:00:00+00:00"  # 0 */6 * * * UTC
    # An override's cron and time zone: 08:30 in Berlin (UTC+2 in August) is 06:30 UTC, so
    # after 07:30 UTC the next is 12:30 Berlin.
    assert (rows["litellm"]["cron"], rows["litellm"]["timezone"]) == ("30 */4 * * *",
                                                                     "Europe/Berlin")
    assert rows["litellm"]["next_tick"] == "2026-08-19T10:30:00+00:00"
    assert rows["models_dev"]["schedule"]["on"] is False
    assert rows["models_dev"]["sensor"] == {"name": "models_dev_change_sensor", "on": True,
                                            "stored": True}
    assert rows["models_dev"]["next_tick"] is None
    # xai's schedule is on, but its key is not set: its ticks skip, so no next sync.
    assert rows["xai"]["enabled"] == "no" and "XAI_API_KEY" in rows["xai"]["reason"]
    assert rows["xai"]["schedule"]["on"] is True and rows["xai"]["next_tick"] is None
    assert rows["groq"]["enabled"] == "yes" and rows["groq"]["reason"] is None
    assert rows["deepinfra"]["schedule"] == {"name": "deepinfra_schedule", "on": False,
                                             "stored": False}  # never toggled: its default
    for name in ("openrouter", "groq", "model_catalog"):
        assert rows[name]["last_run"]["status"] == "success"
        assert rows[name]["last_run"]["run_id"]
        assert rows[name]["last_success"] == rows[name]["last_run"]["finished_at"]
    sensors = {t["name"]: t["on"] for t in document["sensors"]}
    assert sensors == {"catalog_automation_sensor": True, "alert_sensor": False,
                       "change_digest_sensor": True, "metrics_push_sensor": True}


def test_the_table_fits_100_columns_and_says_why_a_source_is_off(replayed_db, monkeypatch,
                                                                 capsys):
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", replayed_db.url)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    assert lines[0].split()[:4] == ["source", "enabled", "schedule", "sensor"]
    groq = next(line for line in lines if line.startswith("groq "))
    assert groq.split()[:4] == ["groq", "no", "off", "off"] and "success" in groq
    assert any(line.startswith("- groq: Groq is disabled: set GROQ_API_KEY") for line in lines)
    assert "DAGSTER_HOME is not set: schedules and sensors are shown at their defaults" in out
    automation = out[out.index("automation: "):].split("\n\n")[0]
    assert " ".join(automation.split()).startswith(
        "automation: catalog_automation_sensor on, alert_sensor on, change_digest_sensor on, "
        "metrics_push_sensor on")
