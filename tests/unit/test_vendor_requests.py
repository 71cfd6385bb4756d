"""What the vendor clients send: only non-empty lists, each endpoint only its own parameters,
the Batch lookback clamp applied when an export is created, no external ids in state."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests_mock

from tap_profile_export.exports import ExportSpec, InFlightExport
from tap_profile_export.settings import parse_settings
from tap_profile_export.vendors.batch.plan import BatchVendor
from tap_profile_export.vendors.braze.plan import BrazeVendor
from tap_profile_export.vendors.braze.settings import BRAZE_FIELDS
from tap_profile_export.windows import to_rfc3339

BATCH = {"api_key": "rest_k", "project_key": "project_p", "api_url": "https://api.batch.com"}
BRAZE = {"api_key": "k", "rest_endpoint": "https://rest.iad-01.braze.com"}
NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)


def batch_vendor(now: datetime = NOW, lookback_minutes: int = 120, **batch: Any) -> BatchVendor:
    settings = parse_settings({"batch": {**BATCH, **batch}, "start_date": to_rfc3339(
        now - timedelta(days=120)), "end_date": to_rfc3339(now),
        "events_lookback_minutes": lookback_minutes})
    assert settings.batch
    return BatchVendor(settings.batch, settings, now)


@pytest.mark.parametrize("batch,expected", [
    ({"identifiers": ["custom_id"]}, {"export_type": "ATTRIBUTES", "identifiers": ["custom_id"]}),
    ({"attributes": ["$language"]}, {"export_type": "ATTRIBUTES", "attributes": ["$language"]}),
    ({"identifiers": [], "attributes": ["$language"], "events": []},
     {"export_type": "ATTRIBUTES", "attributes": ["$language"]}),
])
def test_batch_bodies_carry_only_configured_lists(batch: dict[str, Any],
                                                  expected: dict[str, Any]) -> None:
    vendor = batch_vendor(**batch)
    (profiles,) = vendor.plan("profiles", {"source": "batch"}, None, {})
    assert profiles.request == expected
    for stream in ("events", "reachability_events"):
        (spec,) = vendor.plan(stream, {"source": "batch"}, None, {})
        assert not any(value == [] for value in spec.request.values())
        assert ("identifiers" in spec.request) == bool(batch.get("identifiers"))
        assert "attributes" not in spec.request and "events" not in spec.request


def test_batch_clamps_from_when_the_export_is_created_not_when_planned(
        caplog: pytest.LogCaptureFixture) -> None:
    # No late-event overlap here: the planned `from` is the bookmark itself.
    vendor = batch_vendor(identifiers=["custom_id"], lookback_minutes=0)
    bookmark = NOW - timedelta(days=90) + timedelta(hours=1, minutes=30)  # fine when planned
    (spec,) = vendor.plan("events", {"source": "batch"}, bookmark, {})
    assert spec.request["from"] == to_rfc3339(bookmark)  # not clamped at planning time
    created_at = [NOW + timedelta(hours=2)]  # created (or re-created) two hours later
    vendor.adapter._clock = lambda: created_at[0]
    with requests_mock.Mocker() as m:
        m.post("https://api.batch.com/2.4/profiles/export", status_code=202,
               json={"id": "export_1"})
        assert vendor.adapter.create(spec)["export_id"] == "export_1"
        sent = m.request_history[0].json()
        earliest = created_at[0] - timedelta(days=90) + timedelta(hours=1)
        assert sent["from"] == to_rfc3339(earliest) and sent["to"] == spec.request["to"]
        assert "skipping" in caplog.text and to_rfc3339(bookmark) in caplog.text
        created_at[0] = NOW + timedelta(hours=5)  # re-created later still: clamped again
        vendor.adapter.create(spec)
        assert m.request_history[1].json()["from"] == to_rfc3339(
            created_at[0] - timedelta(days=90) + timedelta(hours=1))
    assert spec.request["from"] == to_rfc3339(bookmark)  # the planned spec is not changed


def test_batch_reachability_never_before_its_floor() -> None:
    now = datetime(2024, 11, 1, tzinfo=timezone.utc)
    vendor = batch_vendor(now, identifiers=["custom_id"])
    vendor.adapter._clock = lambda: now
    (spec,) = vendor.plan("reachability_events", {"source": "batch"}, None, {})
    with requests_mock.Mocker() as m:
        m.post("https://api.batch.com/2.4/profiles/export", status_code=202, json={"id": "e"})
        vendor.adapter.create(spec)
        assert m.request_history[0].json()["from"] == "2024-10-10T00:00:00Z"


def test_batch_window_entirely_past_the_lookback_creates_nothing() -> None:
    vendor = batch_vendor(identifiers=["custom_id"])
    window = (NOW - timedelta(days=200), NOW - timedelta(days=100))
    spec = ExportSpec("batch", "events", "events", window=window, request={
        "export_type": "EVENTS", "identifiers": ["custom_id"],
        "from": to_rfc3339(window[0]), "to": to_rfc3339(window[1])})
    vendor.adapter._clock = lambda: NOW
    with requests_mock.Mocker() as m:
        handle = vendor.adapter.create(spec)
        assert m.request_history == []
    readiness = vendor.adapter.check(spec, InFlightExport.from_json({"handle": handle}))
    assert readiness.ready and readiness.parts == []


def braze_vendor(**braze: Any) -> BrazeVendor:
    settings = parse_settings({"braze": {**BRAZE, **braze}})
    assert settings.braze
    return BrazeVendor(settings.braze, settings, NOW)


def created_bodies(vendor: BrazeVendor, *specs: ExportSpec) -> dict[str, Any]:
    bodies = {}
    with requests_mock.Mocker() as m:
        for path in ("segment", "global_control_group"):
            m.post(f"{BRAZE['rest_endpoint']}/users/export/{path}", status_code=201,
                   json={"message": "success", "object_prefix": "p",
                         "url": "https://braze-exports.s3.amazonaws.com/p.zip?X-Amz-Signature=s"})
        for spec in specs:
            vendor.adapter.create(spec)
            bodies[spec.kind] = m.request_history[-1].json()
    return bodies


def test_braze_each_endpoint_gets_only_its_own_parameters() -> None:
    vendor = braze_vendor(segment_ids=["s1"], global_control_group=True,
                          custom_attributes_to_export=["tier"])
    bodies = created_bodies(vendor, ExportSpec("braze", "braze_users", "segment",
                                               scope="segment:s1"),
                            ExportSpec("braze", "braze_users", "global_control_group",
                                       scope="global_control_group"))
    assert set(bodies["segment"]) == {"segment_id", "fields_to_export",
                                      "custom_attributes_to_export"}
    assert bodies["segment"]["fields_to_export"] == list(BRAZE_FIELDS["segment"])
    assert set(bodies["global_control_group"]) == {"fields_to_export"}
    assert bodies["global_control_group"]["fields_to_export"] == list(
        BRAZE_FIELDS["global_control_group"])
    assert "custom_attributes" in bodies["global_control_group"]["fields_to_export"]


def test_braze_control_group_custom_attributes_come_through_fields_to_export() -> None:
    vendor = braze_vendor(global_control_group=True, fields_to_export=["email"],
                          custom_attributes_to_export=["tier"])
    bodies = created_bodies(vendor, ExportSpec("braze", "braze_users", "global_control_group",
                                               scope="global_control_group"))
    assert bodies["global_control_group"] == {
        "fields_to_export": ["email", "braze_id", "custom_attributes"]}


def test_braze_plain_http_link_is_refused() -> None:
    from tap_profile_export.errors import TapProfileExportError
    vendor = braze_vendor(global_control_group=True)
    with requests_mock.Mocker() as m:
        m.post(f"{BRAZE['rest_endpoint']}/users/export/global_control_group", status_code=201,
               json={"message": "success", "url": "http://exports.example.com/p.zip?sig=s"})
        with pytest.raises(TapProfileExportError, match="must be https") as info:
            vendor.adapter.create(ExportSpec("braze", "braze_users", "global_control_group",
                                             scope="global_control_group"))
    assert "sig=s" not in str(info.value)


def test_braze_ids_state_holds_no_external_ids() -> None:
    ids = [f"person-{n}@example.com" for n in range(120)]
    vendor = braze_vendor(external_ids=ids)
    spec = ExportSpec("braze", "braze_users", "ids", scope="ids")
    handle = vendor.adapter.create(spec)
    assert set(handle) == {"export_id", "chunks", "digest"} and handle["chunks"] == 3
    assert not any(i in repr(handle) for i in ids)
    parts = vendor.adapter.check(spec, InFlightExport.from_json({"handle": handle})).parts
    assert [p.label for p in parts] == ["ids request 1/3 (braze.external_ids[0-49])",
                                        "ids request 2/3 (braze.external_ids[50-99])",
                                        "ids request 3/3 (braze.external_ids[100-119])"]
    entry = InFlightExport.from_json({"handle": handle, "parts_done": ["request-1"],
                                      "created_at": to_rfc3339(NOW)})
    assert vendor.adapter.resume_problem(spec, entry) is None
    changed = braze_vendor(external_ids=[*ids, "someone-new"])
    assert "changed" in (changed.adapter.resume_problem(spec, entry) or "")
    old_format = InFlightExport.from_json({"handle": {"export_id": "ids", "chunks": [ids[:50]]},
                                           "parts_done": []})
    assert vendor.adapter.resume_problem(spec, old_format)
    # 0.1's digest (sha256 of the external ids alone) does not match: the export starts over.
    old_digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    assert vendor.adapter.resume_problem(spec, InFlightExport.from_json(
        {"handle": {"export_id": "ids", "chunks": 3, "digest": old_digest}}))


def test_batch_first_run_without_start_date_does_not_warn(caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    settings = parse_settings({"batch": {**BATCH, "identifiers": ["custom_id"]}})
    assert settings.batch
    vendor = BatchVendor(settings.batch, settings, NOW)
    (spec,) = vendor.plan("events", {"source": "batch"}, None, {})
    vendor.adapter._clock = lambda: NOW + timedelta(seconds=40)  # created a little later
    with requests_mock.Mocker() as m:
        m.post("https://api.batch.com/2.4/profiles/export", status_code=202, json={"id": "e"})
        vendor.adapter.create(spec)
        sent = m.request_history[0].json()["from"]
    assert sent == to_rfc3339(NOW + timedelta(seconds=40) - timedelta(days=90, hours=-1))
    assert "WARNING" not in caplog.text and "skipping" not in caplog.text
