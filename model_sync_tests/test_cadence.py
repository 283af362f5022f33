"""Schedules: each source's cron and timezone, their overrides, and freshness that follows them."""

from datetime import timedelta

import dagster as dg
import pytest

from model_sync.cadence import (
    CadenceError,
    catalog_windows,
    health_windows,
    longest_gap,
    resolve_cadences,
)
from model_sync.definitions import defs
from model_sync.sources import SOURCES, SOURCES_BY_NAME


def test_default_cadences_are_the_specs():
    cadences = resolve_cadences(SOURCES, env={})
    assert cadences["openrouter"].cron == "0 */6 * * *"
    for name in ("models_dev", "litellm", "genai_prices", "deepinfra", "groq",
                 "artificial_analysis"):
        assert cadences[name].cron == "0 2 * * *", name
    assert {c.timezone for c in cadences.values()} == {"UTC"}
    assert {c.origin for c in cadences.values()} == {"spec"}


def test_freshness_windows_follow_the_cadence():
    cadences = resolve_cadences(SOURCES, env={})
    openrouter, daily = cadences["openrouter"], cadences["litellm"]
    assert openrouter.warn_after == timedelta(hours=6, minutes=15)
    assert openrouter.fail_after == timedelta(hours=8)
    # a daily sync is not stale at the moment its next tick starts: an hour's grace
    assert daily.warn_after == timedelta(hours=24, minutes=15)
    assert daily.fail_after == timedelta(hours=25)
    assert catalog_windows(cadences.values()) == (openrouter.warn_after, openrouter.fail_after)
    assert health_windows(cadences)["model_catalog"] == (openrouter.warn_after,
                                                          openrouter.fail_after)


def test_schedules_and_freshness_policies_in_the_definitions():
    repo = defs.get_repository_def()
    cadences = resolve_cadences(SOURCES, env={})
    for spec in SOURCES:
        schedule = repo.get_schedule_def(f"{spec.name}_schedule")
        assert (schedule.cron_schedule, schedule.execution_timezone) == (spec.cron, "UTC")
        policy = repo.asset_graph.get(dg.AssetKey(spec.name)).freshness_policy
        assert policy.fail_window.to_timedelta() == cadences[spec.name].fail_after
        assert policy.warn_window.to_timedelta() == cadences[spec.name].warn_after
    catalog = repo.asset_graph.get(dg.AssetKey("model_catalog")).freshness_policy
    assert catalog.fail_window.to_timedelta() == timedelta(hours=8)


def test_environment_overrides_cron_and_timezone():
    env = {"MODEL_SYNC_SCHEDULE_OPENROUTER": "0   */4 * * *",
           "MODEL_SYNC_TIMEZONE": "Europe/Berlin",
           "MODEL_SYNC_TIMEZONE_LITELLM": "America/New_York"}
    cadences = resolve_cadences(SOURCES, env=env)
    assert cadences["openrouter"].cron == "0 */4 * * *"
    assert cadences["openrouter"].origin == "MODEL_SYNC_SCHEDULE_OPENROUTER"
    assert cadences["openrouter"].timezone == "Europe/Berlin"
    assert cadences["models_dev"].timezone == "Europe/Berlin"
    assert cadences["litellm"].timezone == "America/New_York"
    assert cadences["openrouter"].warn_after == timedelta(hours=4, minutes=15)


def test_yaml_file_overrides_and_the_environment_wins(tmp_path):
    path = tmp_path / "schedules.yaml"
    path.write_text("timezone: Asia/Tokyo\n"
                    "sources:\n"
                    "  models_dev: {cron: '30 3 * * 1', freshness_hours: 200, probe_minutes: 60}\n"
                    "  openrouter: {cron: '0 * * * *', timezone: UTC}\n")
    env = {"MODEL_SYNC_SCHEDULES_FILE": str(path), "MODEL_SYNC_SCHEDULE_OPENROUTER": "0 1 * * *"}
    cadences = resolve_cadences(SOURCES, env=env)
    weekly = cadences["models_dev"]
    assert (weekly.cron, weekly.timezone, weekly.probe_minutes) == ("30 3 * * 1", "Asia/Tokyo", 60)
    assert weekly.fail_after == timedelta(hours=200)
    assert "schedules.yaml (sources.models_dev.cron)" in weekly.origin
    assert cadences["openrouter"].cron == "0 1 * * *"  # the environment wins over the file
    assert cadences["openrouter"].timezone == "UTC"
    assert cadences["litellm"].timezone == "Asia/Tokyo"


def test_the_environment_timezone_wins_over_the_file(tmp_path):
    """MODEL_SYNC_TIMEZONE beats the file's global and per-source timezones; a source's own
    variable beats MODEL_SYNC_TIMEZONE."""
    path = tmp_path / "schedules.yaml"
    path.write_text("timezone: Asia/Tokyo\n"
                    "sources:\n"
                    "  openrouter: {timezone: Australia/Sydney}\n")
    env = {"MODEL_SYNC_SCHEDULES_FILE": str(path), "MODEL_SYNC_TIMEZONE": "Europe/Berlin",
           "MODEL_SYNC_TIMEZONE_LITELLM": "America/New_York"}
    cadences = resolve_cadences(SOURCES, env=env)
    assert cadences["openrouter"].timezone == "Europe/Berlin"  # over the file's source entry
    assert cadences["models_dev"].timezone == "Europe/Berlin"  # over the file's global timezone
    assert cadences["litellm"].timezone == "America/New_York"
    without = resolve_cadences(SOURCES, env={"MODEL_SYNC_SCHEDULES_FILE": str(path)})
    assert without["openrouter"].timezone == "Australia/Sydney"
    assert without["models_dev"].timezone == "Asia/Tokyo"


def test_a_bad_file_timezone_names_where_it_came_from(tmp_path):
    path = tmp_path / "schedules.yaml"
    path.write_text("timezone: Mars/Olympus\n")
    with pytest.raises(CadenceError, match=r"schedules.yaml \(timezone\): 'Mars/Olympus'"):
        resolve_cadences(SOURCES, env={"MODEL_SYNC_SCHEDULES_FILE": str(path)})
    # the environment wins, so the file's value is never used
    cadences = resolve_cadences(SOURCES, env={"MODEL_SYNC_SCHEDULES_FILE": str(path),
                                              "MODEL_SYNC_TIMEZONE": "UTC"})
    assert cadences["openrouter"].timezone == "UTC"


def test_a_weekly_cron_never_leaves_a_source_permanently_stale():
    cadences = resolve_cadences(SOURCES, env={"MODEL_SYNC_SCHEDULE_LITELLM": "0 2 * * 1"})
    assert cadences["litellm"].fail_after == timedelta(days=7, hours=1)
    assert longest_gap("0 2 * * 1-5", "UTC") == timedelta(days=3)


@pytest.mark.parametrize(("env", "message"), [
    ({"MODEL_SYNC_SCHEDULE_GROQ": "every day"},
     "groq schedule from MODEL_SYNC_SCHEDULE_GROQ: 'every day' is not a valid cron string"),
    ({"MODEL_SYNC_SCHEDULE_GROQ": "0 25 * * *"}, "'0 25 * * *' is not a valid cron string"),
    ({"MODEL_SYNC_TIMEZONE": "Mars/Olympus"},
     "openrouter timezone from MODEL_SYNC_TIMEZONE: 'Mars/Olympus' is not an IANA time zone"),
    ({"MODEL_SYNC_FRESHNESS_HOURS_GROQ": "-3"}, "expected a positive number, got '-3'"),
])
def test_invalid_overrides_fail_clearly(env, message):
    with pytest.raises(CadenceError) as info:
        resolve_cadences(SOURCES, env=env)
    assert message in str(info.value)


def test_yaml_file_errors_name_the_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("sources:\n  nope: {cron: '0 1 * * *'}\n")
    with pytest.raises(CadenceError, match=r"unknown sources \['nope'\]"):
        resolve_cadences(SOURCES, env={"MODEL_SYNC_SCHEDULES_FILE": str(path)})
    path.write_text("sources: [1, 2]\n")
    with pytest.raises(CadenceError, match="expected a mapping"):
        resolve_cadences(SOURCES, env={"MODEL_SYNC_SCHEDULES_FILE": str(path)})
    with pytest.raises(CadenceError, match="cannot read it"):
        resolve_cadences(SOURCES, env={"MODEL_SYNC_SCHEDULES_FILE": str(tmp_path / "missing")})


def test_schedule_ticks_in_its_timezone():
    """An override reaches the schedule the definitions build (read at load time)."""
    from model_sync.defs.schedules import build_schedule

    cadence = resolve_cadences([SOURCES_BY_NAME["litellm"]],
                               env={"MODEL_SYNC_SCHEDULE_LITELLM": "15 9 * * *",
                                    "MODEL_SYNC_TIMEZONE": "Europe/Berlin"})["litellm"]
    schedule = build_schedule(SOURCES_BY_NAME["litellm"], cadence)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("15 9 * * *",
                                                                      "Europe/Berlin")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_the_example_overrides_file_is_valid():
    from model_sync_tests.conftest import REPO

    cadences = resolve_cadences(SOURCES, env={
        "MODEL_SYNC_SCHEDULES_FILE": str(REPO / "schedules.example.yaml")})
    assert cadences["artificial_analysis"].probe_minutes == 720
    assert cadences["artificial_analysis"].fail_after == timedelta(hours=26)
    assert cadences["openrouter"].cron == "0 */6 * * *"
