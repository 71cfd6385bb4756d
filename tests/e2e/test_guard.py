"""The refused-request guard itself: a test whose client made the sandbox answer 400 fails,
unless the 400 was injected or declared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CASES = '''
import pytest
import requests

BAD = {"export_type": "ATTRIBUTES", "identifiers": []}
HEADERS = {"Authorization": "Bearer rest_sandbox_key", "X-Batch-Project": "project_sandbox"}


def post(sb, body):
    return requests.post(f"{sb.api_url}/2.4/profiles/export", json=body, headers=HEADERS,
                         timeout=10).status_code


def test_refused_request_fails(sandbox):
    assert post(sandbox, BAD) == 400


def test_injected_400_passes(sandbox):
    sandbox.add_fault(vendor="batch", endpoint="create", status=400)
    assert post(sandbox, {"export_type": "ATTRIBUTES", "identifiers": ["custom_id"]}) == 400


def test_declared_with_expect_400_passes(sandbox):
    sandbox.expect_400()
    assert post(sandbox, BAD) == 400


@pytest.mark.sandbox_refusals
def test_declared_with_marker_passes(sandbox):
    assert post(sandbox, BAD) == 400


def test_own_sandbox_is_guarded_too():
    from sandbox import Sandbox
    with Sandbox(seed=1) as sb:
        assert post(sb, BAD) == 400
'''


def test_guard_fails_only_undeclared_refusals(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "from tests.e2e.conftest import no_refused_requests, pytest_configure, sandbox  "
        "# noqa: F401\n")
    (tmp_path / "test_cases.py").write_text(CASES)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = proc.stdout
    # The guard fails the test at teardown (reported as an error), the run fails.
    assert "5 passed, 2 errors" in out and proc.returncode == 1, out[-3000:]
    assert "ERROR test_cases.py::test_refused_request_fails" in out
    assert "ERROR test_cases.py::test_own_sandbox_is_guarded_too" in out
    assert "POST api:/2.4/profiles/export" in out
