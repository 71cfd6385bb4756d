"""Braze end to end: every scope, readiness probing without credentials, archives, faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tap_profile_export.vendors.braze.settings import BRAZE_FIELDS

from .conftest import run_tap


def braze_config(sb: Sandbox, tmp_path: Path, **braze: Any) -> dict[str, Any]:
    config = {k: v for k, v in sb.tap_config().items() if k not in ("batch", "apsis")}
    config["braze"].update(braze)
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    config["temp_dir"] = str(spool)
    return config


def by_scope(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    scopes: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        scopes.setdefault(record["export_scope"], []).append(record)
    return scopes


def api_posts(sb: Sandbox, path: str) -> list[Any]:
    return [r for r in sb.requests() if r.origin == "api" and r.path == path]


def test_every_scope_end_to_end(sandbox: Sandbox, tmp_path: Path) -> None:
    config = braze_config(sandbox, tmp_path)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    scopes = by_scope(run.records("braze_users"))
    assert set(scopes) == {"segment:seg-alpha", "segment:seg-beta", "global_control_group",
                           "ids"}
    fields = list(BRAZE_FIELDS["segment"])
    for scope in ("segment:seg-alpha", "segment:seg-beta", "global_control_group"):
        expected = sandbox.braze_sim.expected_users(scope, fields)
        got = scopes[scope]
        assert sorted(u["braze_id"] for u in got) == sorted(u["braze_id"] for u in expected)
        assert len({u["braze_id"] for u in got}) == len(got), "duplicate user emitted"
        sample = next(u for u in got if u["braze_id"] == expected[0]["braze_id"])
        assert sample["custom_attributes"] == expected[0]["custom_attributes"]
        assert sample["devices"] == expected[0]["devices"]
        assert sample["created_at"].endswith("Z") and "T" in sample["created_at"]
    wanted_ids = {i for i in config["braze"]["external_ids"] if i != "no-such-user"}
    assert {u["external_id"] for u in scopes["ids"]} == wanted_ids
    assert "Braze matched no user for 1 external id(s)" in run.stderr
    assert "no-such-user" not in run.stderr
    segment_requests = api_posts(sandbox, "/users/export/segment")
    assert sorted(r.json["segment_id"] for r in segment_requests) == ["seg-alpha", "seg-beta"]
    assert all("braze_id" in r.json["fields_to_export"] for r in segment_requests)
    for request in sandbox.requests():
        if request.origin == "download":
            assert "authorization" not in request.headers
    key = config["braze"]["api_key"]
    assert key not in run.stderr and key not in run.stdout
    assert "Signature=" not in run.stderr


def test_ids_are_sent_in_chunks_of_50(sandbox: Sandbox, tmp_path: Path) -> None:
    ids = [f"user-{n}" for n in range(120)]
    config = braze_config(sandbox, tmp_path, segment_ids=[], global_control_group=False,
                          external_ids=ids)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    sent = [r.json["external_ids"] for r in api_posts(sandbox, "/users/export/ids")]
    assert [len(chunk) for chunk in sent] == [50, 50, 20]
    assert [i for chunk in sent for i in chunk] == ids
    assert len(run.records("braze_users")) == 120


@pytest.mark.parametrize("status", [403, 404])
def test_readiness_probed_until_ready(sandbox: Sandbox, tmp_path: Path, status: int) -> None:
    sandbox.braze.ready_after = 4
    sandbox.braze.not_ready_status = status
    run = run_tap(tmp_path, braze_config(sandbox, tmp_path, segment_ids=["seg-alpha"],
                                         global_control_group=False, external_ids=[]))
    assert run.returncode == 0, run.stderr[-3000:]
    probes = [r.status for r in sandbox.requests() if r.origin == "download"]
    # The probe that finds it ready is closed at once; reading fetches the archive again.
    assert probes == [status] * 4 + [200, 200]
    assert run.records("braze_users")


def test_running_segment_429_waits_for_rate_limit_reset(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.add_fault(vendor="braze", endpoint="create", status=429, times=1,
                      headers={"X-RateLimit-Reset": "1", "X-RateLimit-Remaining": "0"})
    run = run_tap(tmp_path, braze_config(sandbox, tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    creates = api_posts(sandbox, "/users/export/segment") + api_posts(
        sandbox, "/users/export/global_control_group")
    assert [r.status for r in creates].count(429) == 1
    assert "HTTP 429, retry 1/9 in 1.0s" in run.stderr


def test_link_expired_after_ready_creates_a_new_export(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.braze.expire_after_ready_once = True
    sandbox.braze.ready_after = 0
    sandbox.add_fault(vendor="braze", endpoint="file", action="reset", times=1)
    run = run_tap(tmp_path, braze_config(sandbox, tmp_path, segment_ids=["seg-alpha"],
                                         global_control_group=False, external_ids=[]))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(api_posts(sandbox, "/users/export/segment")) == 2
    assert "download link" in run.stderr and "creating a new export" in run.stderr
    expected = sandbox.braze_sim.expected_users("segment:seg-alpha", ["braze_id"])
    assert len(run.records("braze_users")) == len(expected)


def test_gzip_body_is_read(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.braze.gzip_body = True
    run = run_tap(tmp_path, braze_config(sandbox, tmp_path, external_ids=[]))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(by_scope(run.records("braze_users"))) == 3


@pytest.mark.parametrize("fault,expected", [("corrupt_archive", "member"),
                                            ("truncated_archive", "ZIP archive")])
def test_broken_archive_fails_naming_scope_and_cleans_up(sandbox: Sandbox, tmp_path: Path,
                                                         fault: str, expected: str) -> None:
    setattr(sandbox.braze, fault, True)
    config = braze_config(sandbox, tmp_path, segment_ids=["seg-alpha"],
                          global_control_group=False, external_ids=[])
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "segment:seg-alpha" in run.stderr and expected in run.stderr
    assert "corrupt" in run.stderr
    assert list(Path(config["temp_dir"]).iterdir()) == []


def test_temp_files_removed_after_success(sandbox: Sandbox, tmp_path: Path) -> None:
    config = braze_config(sandbox, tmp_path)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert list(Path(config["temp_dir"]).iterdir()) == []
