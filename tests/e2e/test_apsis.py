"""APSIS One end to end: OAuth, windows, both file layouts, faults — real CLI, real sandbox."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tap_profile_export.vendors.apsis.records import event_id
from tap_profile_export.windows import parse_rfc3339, to_rfc3339

from .conftest import partition_state, run_tap

CREATE = "/audience/profiles/exports"


def apsis_config(sb: Sandbox, **top: Any) -> dict[str, Any]:
    config = {k: v for k, v in sb.tap_config().items() if k not in ("batch", "braze")}
    config["start_date"] = to_rfc3339(sb.anchor - timedelta(days=21))
    config["end_date"] = to_rfc3339(sb.anchor)
    config.update(top)
    return config


def creates(sb: Sandbox, events: bool | None = None) -> list[Any]:
    found = [r for r in sb.requests() if r.method == "POST" and r.path == CREATE]
    if events is not None:
        found = [r for r in found if bool((r.json or {}).get("events")) == events]
    return found


def expected_event_ids(sb: Sandbox, body: dict[str, Any], start: Any, end: Any) -> set[str]:
    return {event_id(key, section, event)
            for key, section, event in sb.apsis_sim.expected_events(body, start, end)}


def test_profiles_and_events_end_to_end(sandbox: Sandbox, tmp_path: Path) -> None:
    config = apsis_config(sandbox)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]

    [profiles_request] = creates(sandbox, events=False)
    assert profiles_request.json == {"attributes": config["apsis"]["attributes"],
                                     "tags": config["apsis"]["tags"]}
    expected = sandbox.apsis_sim.expected_profiles(profiles_request.json)
    profiles = {p["profile_id"]: p for p in run.records("profiles")}
    assert set(profiles) == set(expected)
    tags = set(config["apsis"]["tags"])
    for key, profile in expected.items():
        got = profiles[key]
        flat = {a: h["value"] for s in profile["sections"].values()
                for a, h in s["attributes"].items()}
        assert got["attributes"] == {a: v for a, v in flat.items() if a not in tags}
        assert got["tags"] == sorted(a for a in flat if a in tags)
        assert set(got["sections"]) == set(profile["sections"])

    windows = [(c.json["start_at"], c.json["end_at"]) for c in creates(sandbox, events=True)]
    assert windows == [(to_rfc3339(sandbox.anchor - timedelta(days=d)),
                        to_rfc3339(sandbox.anchor - timedelta(days=d - 7))) for d in (21, 14, 7)]
    body = creates(sandbox, events=True)[0].json
    want = expected_event_ids(sandbox, body, parse_rfc3339(config["start_date"]), sandbox.anchor)
    got = [e["event_id"] for e in run.records("events")]
    assert len(got) == len(set(got)), "an event was emitted twice"
    assert set(got) == want
    state = partition_state(run.last_state, "events", source="apsis")
    assert state["replication_key_value"] == config["end_date"] and "exports" not in state
    assert all(r.headers.get("accept-encoding", "").find("gzip") >= 0
               for r in sandbox.requests() if r.path.endswith("/file"))


def test_event_on_a_window_boundary_lands_once(sandbox: Sandbox, tmp_path: Path) -> None:
    config = apsis_config(sandbox)
    boundary = sandbox.anchor - timedelta(days=14)
    body = {"events": config["apsis"]["events"]}
    on_boundary = [e for e in sandbox.apsis_sim.expected_events(
        {**body, "attributes": ["attr.email"]}, boundary, boundary + timedelta(seconds=1))
        if (e[2]["sourceEventTime"] or e[2]["createdAt"]) == int(boundary.timestamp() * 1000)]
    assert on_boundary, "the sandbox data should hold an event exactly on a window edge"
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    ids = [e["event_id"] for e in run.records("events")]
    for key, section, event in on_boundary:
        assert ids.count(event_id(key, section, event)) == 1


def test_second_run_exports_the_overlap_and_new_windows(sandbox: Sandbox,
                                                        tmp_path: Path) -> None:
    sandbox.apsis.events_per_profile = 20  # one every ~40 minutes: some fall in the overlap
    bookmark = sandbox.anchor - timedelta(days=7)
    first = run_tap(tmp_path, apsis_config(sandbox, end_date=to_rfc3339(bookmark)))
    assert first.returncode == 0, first.stderr[-3000:]
    before = len(creates(sandbox, events=True))
    second = run_tap(tmp_path, apsis_config(sandbox), state=first.last_state)
    assert second.returncode == 0, second.stderr[-3000:]
    new = creates(sandbox, events=True)[before:]
    # The 2-hour overlap rides on the one 7-day window (no extra paced export for it).
    overlap_start = bookmark - timedelta(hours=2)
    assert [(c.json["start_at"], c.json["end_at"]) for c in new] == [
        (to_rfc3339(overlap_start), to_rfc3339(sandbox.anchor))]
    reread = expected_event_ids(sandbox, new[0].json, overlap_start, bookmark)
    assert reread and {e["event_id"] for e in first.records("events")} & {
        e["event_id"] for e in second.records("events")} == reread


@pytest.mark.parametrize("layout,gzip", [("wrapped", True), ("bare", False)])
def test_both_layouts_and_encodings(sandbox: Sandbox, tmp_path: Path, layout: str,
                                    gzip: bool) -> None:
    baseline = run_tap(tmp_path, apsis_config(sandbox))
    sandbox.apsis.layout, sandbox.apsis.gzip = layout, gzip
    run = run_tap(tmp_path, apsis_config(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in ("profiles", "events"):
        key = "profile_id" if stream == "profiles" else "event_id"
        assert sorted(r[key] for r in run.records(stream)) == sorted(
            r[key] for r in baseline.records(stream))


@pytest.mark.parametrize("field", ["file_download_url_v2", "file_download_url", "url", "Location"])
def test_poll_url_taken_from_any_documented_field(sandbox: Sandbox, tmp_path: Path,
                                                  field: str) -> None:
    sandbox.apsis.poll_url_field = field
    run = run_tap(tmp_path, apsis_config(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.records("profiles") and run.records("events")


def test_token_is_cached_refreshed_on_401_and_never_logged(sandbox: Sandbox,
                                                           tmp_path: Path) -> None:
    sandbox.add_fault(vendor="apsis", endpoint="status", status=401, times=1)
    config = apsis_config(sandbox)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    tokens = [r for r in sandbox.requests() if r.path == "/oauth/token"]
    assert len(tokens) == 2  # one at start, one after the 401
    assert tokens[0].json["grant_type"] == "client_credentials"
    secret = config["apsis"]["client_secret"]
    assert secret not in run.stderr and secret not in run.stdout
    issued = [r.headers.get("authorization", "") for r in sandbox.requests()
              if r.path != "/oauth/token"]
    for header in {h for h in issued if h}:
        assert header.removeprefix("Bearer ") not in run.stderr + run.stdout


def test_short_lived_token_is_refreshed_before_it_expires(sandbox: Sandbox,
                                                          tmp_path: Path) -> None:
    sandbox.apsis.token_ttl_seconds = 2
    sandbox.apsis.ready_after = 16
    run = run_tap(tmp_path, apsis_config(sandbox, poll={"initial_interval_seconds": 0.1,
                                                        "max_interval_seconds": 0.2,
                                                        "timeout_seconds": 30}))
    assert run.returncode == 0, run.stderr[-3000:]
    tokens = [r for r in sandbox.requests() if r.path == "/oauth/token"]
    refused = [r for r in sandbox.requests() if r.status == 401]
    assert len(tokens) >= 2
    # Refreshed ahead of `exp`, not only after a refusal. (On a loaded machine a request sent
    # just before `exp` can still arrive after it; the tap then refreshes once on the 401.)
    assert len(tokens) - 1 > len(refused)


def test_poll_url_on_another_origin_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.apsis.poll_url_origin = sandbox.download_url
    run = run_tap(tmp_path, apsis_config(sandbox))
    assert run.returncode != 0
    assert "not on the configured API origin" in run.stderr
    assert not [r for r in sandbox.requests() if r.origin == "download"]


@pytest.mark.parametrize("scenario", ["gone_once", "failed_once"])
def test_410_and_503_create_a_new_export(sandbox: Sandbox, tmp_path: Path,
                                         scenario: str) -> None:
    baseline = run_tap(tmp_path, apsis_config(sandbox))
    before = len(creates(sandbox))
    setattr(sandbox.apsis, scenario, True)
    run = run_tap(tmp_path, apsis_config(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(creates(sandbox)) - before == before + 1
    assert "creating a new export" in run.stderr
    assert sorted(e["event_id"] for e in run.records("events")) == sorted(
        e["event_id"] for e in baseline.records("events"))


def test_rate_limited_creates_wait_and_retry(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.add_fault(vendor="apsis", endpoint="create", status=429, times=2,
                      body={"title": "Too Many Requests", "status": 429})
    run = run_tap(tmp_path, apsis_config(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    assert [r.status for r in creates(sandbox)].count(429) == 2


def test_event_exports_are_paced(sandbox: Sandbox, tmp_path: Path) -> None:
    config = apsis_config(sandbox)
    config["apsis"]["min_seconds_between_exports"] = 0.6
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    times = [r.at for r in creates(sandbox, events=True)]
    assert len(times) == 3 and all(b - a >= 0.55 for a, b in itertools.pairwise(times))
    assert "pacing event exports" in run.stderr


@pytest.mark.parametrize("scenario,expected", [("truncate_body", "truncated"),
                                               ("invalid_json", "invalid")])
def test_broken_document_fails_naming_export_and_keeps_bookmark(
        sandbox: Sandbox, tmp_path: Path, scenario: str, expected: str) -> None:
    setattr(sandbox.apsis, scenario, True)
    config = apsis_config(sandbox)
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "apsis" in run.stderr and expected in run.stderr and "byte offset" in run.stderr
    state = partition_state(run.last_state, "events", source="apsis")
    assert state.get("replication_key_value") != config["end_date"]


def test_limits_are_validated_before_any_request(sandbox: Sandbox, tmp_path: Path) -> None:
    config = apsis_config(sandbox)
    config["apsis"]["attributes"] = [f"a{i}" for i in range(76)]
    run = run_tap(tmp_path, config)
    assert run.returncode != 0 and "setting 'apsis.attributes'" in run.stderr
    assert sandbox.requests() == []
