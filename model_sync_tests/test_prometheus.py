"""A real Prometheus (Debian's package) scrapes `model-sync metrics --serve` after a replayed
sync: its query API answers with the sync counts, durations and last successes of `sync_runs`,
and it loads the example alerting rules; promtool checks and unit-tests those rules."""

import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from collections import Counter
from datetime import UTC
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from model_sync.catalog import CATALOG
from model_sync.catalog.schema import sync_runs
from model_sync.sources import SOURCES
from model_sync_tests.conftest import REPO, unavailable
from model_sync_tests.servers import Service, free_port, wait_until
from model_sync_tests.test_metrics import samples

RULES = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "model-sync-dashboard.json"


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                   else None)
    if found is None:
        unavailable(f"{name} is not installed: install Debian's prometheus package, as .ci/run "
                    "does")
    return found


def get(url: str, timeout: float = 5.0) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except OSError:
        return None


def query(base: str, expr: str) -> list[dict]:
    body = get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    answer = json.loads(body) if body else {}
    return answer.get("data", {}).get("result", []) if answer.get("status") == "success" else []


def evaluated_rules(base: str) -> list[dict] | None:
    """The rule groups once every rule has been evaluated (health ok or err, not unknown)."""
    groups = json.loads(get(f"{base}/api/v1/rules") or b"{}").get("data", {}).get("groups", [])
    rules = [rule for group in groups for rule in group["rules"]]
    return groups if rules and all(r["health"] != "unknown" for r in rules) else None


def by_source(results: list[dict], *labels: str) -> dict:
    return {tuple(r["metric"][label] for label in labels): float(r["value"][1])
            for r in results}


def test_promtool_checks_the_rules_and_runs_their_unit_tests():
    promtool = tool("promtool")
    done = subprocess.run([promtool, "check", "rules", "alerts.yml"], cwd=RULES,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 8 rules found" in done.stdout
    done = subprocess.run([promtool, "test", "rules", "alerts.test.yml"], cwd=RULES,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([promtool, "check", "config", "prometheus.yml"], cwd=RULES,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_and_the_dashboard_read_only_metrics_the_exporter_serves(replayed_db,
                                                                         monkeypatch, capsys):
    from model_sync.cli import main

    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", replayed_db.url)
    assert main(["metrics"]) == 0
    served = {name for name, _ in samples(capsys.readouterr().out)}
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"][0]["rules"]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [r["expr"] for r in rules] + [t["expr"] for p in dashboard["panels"]
                                          for t in p["targets"]]
    named = {word for expr in exprs
             for word in re.findall(r"\bmodel_sync_[a-z_]+", expr)}
    assert named and named <= served, sorted(named - served)
    assert {r["alert"] for r in rules} >= {"ModelSyncSourceStale", "ModelSyncCatalogBelowMinimum",
                                           "ModelSyncSourceConsecutiveFailures",
                                           "ModelSyncSourceFailureRate"}


@pytest.mark.integration
def test_prometheus_scrapes_the_exporter_and_answers_with_the_sync_history(replayed_db,
                                                                          tmp_path):
    prometheus = tool("prometheus")
    exporter_port, prometheus_port = free_port(), free_port()
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "LANG": "C.UTF-8", "MODEL_SYNC_DATABASE_URL": replayed_db.url}
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES / "alerts.yml")],
        "scrape_configs": [{"job_name": "model_sync", "static_configs": [
            {"targets": [f"127.0.0.1:{exporter_port}"]}]}]}))
    services: list[Service] = []
    try:
        exporter = Service.start(
            [sys.executable, "-m", "model_sync.cli", "metrics", "--serve",
             f"127.0.0.1:{exporter_port}"], tmp_path, env, tmp_path / "exporter.log")
        services.append(exporter)
        wait_until(lambda: get(f"http://127.0.0.1:{exporter_port}/metrics") or
                   not exporter.running(), 120, "the exporter")
        assert exporter.running(), exporter.log_tail()
        services.append(Service.start(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"], tmp_path, env,
            tmp_path / "prometheus.log"))
        base = f"http://127.0.0.1:{prometheus_port}"
        counts = wait_until(lambda: query(base, "model_sync_source_syncs_total"), 120,
                            "Prometheus to scrape the exporter")
        durations = query(base, "model_sync_source_sync_duration_seconds_count")
        last = query(base, "model_sync_source_last_success_timestamp_seconds")
        up = query(base, 'up{job="model_sync"}')
        rules = wait_until(lambda: evaluated_rules(base), 60, "the rules' first evaluation")
        # SIGTERM stops the exporter cleanly, as systemd and docker stop it.
        exporter.process.send_signal(signal.SIGTERM)
        assert exporter.process.wait(timeout=30) == 0, exporter.log_tail()
    finally:
        for service in reversed(services):
            service.stop()
    assert [float(r["value"][1]) for r in up] == [1.0]
    assert all(r["metric"]["job"] == "model_sync" for r in counts)
    store = replayed_db.store()
    try:
        with store.engine.connect() as conn:
            runs = [dict(r) for r in conn.execute(sa.select(sync_runs)).mappings()]
    finally:
        store.dispose()
    expected = Counter((r["source"], r["status"]) for r in runs)
    answered = by_source(counts, "source", "status")
    names = [spec.name for spec in SOURCES] + [CATALOG]
    for name in names:
        assert answered[(name, "success")] == expected[(name, "success")] > 0, name
        assert answered[(name, "failed")] == expected[(name, "failed")], name
        assert by_source(durations, "source")[(name,)] == sum(
            n for (source, _), n in expected.items() if source == name)
        success = max(r["finished_at"] for r in runs
                      if r["source"] == name and r["status"] == "success")
        success = success.replace(tzinfo=UTC) if success.tzinfo is None else success
        assert abs(by_source(last, "source")[(name,)] - success.timestamp()) < 1e-3, name
    [group] = rules
    assert group["name"] == "model_sync" and len(group["rules"]) == 8
    assert all(rule["health"] == "ok" for rule in group["rules"]), group["rules"]
