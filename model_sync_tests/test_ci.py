"""In CI nothing passes by skipping: a missing requirement fails the test, a skip fails the
suite, and missing recordings stop it at once."""

import os
import subprocess
import sys
import textwrap

import pytest

from model_sync_tests.conftest import REPO


def run_pytest(folder, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", str(folder), "-q",
                           "-p", "no:cacheprovider", *args], cwd=folder, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO), **env})


def suite(tmp_path, body: str):
    (tmp_path / "conftest.py").write_text(
        "from model_sync_tests.conftest import pytest_sessionfinish, pytest_sessionstart  # noqa\n")
    (tmp_path / "test_it.py").write_text(textwrap.dedent(body))
    return tmp_path


def test_a_missing_requirement_fails_in_ci_and_skips_elsewhere(tmp_path):
    folder = suite(tmp_path, """
        from model_sync_tests.conftest import unavailable

        def test_needs_a_server():
            unavailable("no server here")
        """)
    done = run_pytest(folder, {"CI": "true"})
    assert done.returncode == 1 and "no server here; in CI every test must run" in done.stdout
    done = run_pytest(folder, {"CI": ""})
    assert done.returncode == 0 and "1 skipped" in done.stdout


@pytest.mark.parametrize("workers", [(), ("-n", "2", "--dist", "worksteal")],
                         ids=["one process", "two workers"])
def test_any_skip_fails_the_suite_in_ci(tmp_path, workers):
    folder = suite(tmp_path, """
        import pytest

        def test_passes():
            pass

        @pytest.mark.skip(reason="someday")
        def test_skipped():
            pass
        """)
    done = run_pytest(folder, {"CI": "true"}, *workers)
    assert done.returncode == 1
    assert "CI: 1 tests were skipped; every test must run here" in done.stdout
    assert run_pytest(folder, {"CI": "false"}, *workers).returncode == 0


def test_missing_recordings_stop_the_suite_in_ci(tmp_path):
    folder = suite(tmp_path, """
        def test_passes():
            pass
        """)
    done = run_pytest(folder, {"CI": "true", "MODEL_SYNC_SHARED_PAYLOADS": str(tmp_path / "no")})
    assert done.returncode != 0
    assert "CI: the recorded payloads are not at" in done.stdout + done.stderr
