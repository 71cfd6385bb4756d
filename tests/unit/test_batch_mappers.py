"""Batch lines → records of CONTRACT.md section 5."""

from __future__ import annotations

import pytest

from tap_profile_export.vendors.batch.records import map_event, map_profile, map_reachability

IDS = {"profile_id": "profile_1", "custom_id": "u1", "installation_id": "inst-1"}


def test_profile_keeps_identifiers_and_attributes() -> None:
    row = {"identifiers": {"profile_id": "profile_1", "custom_id": "u1",
                           "installation_ids": ["a", "b"]},
           "attributes": {"$email_address": "a@b.c", "loyalty_tier": "gold"}}
    record = map_profile(row, "2025-01-01T00:00:00Z")
    assert record == {"source": "batch", "profile_id": "profile_1", "custom_id": "u1",
                      "identifiers": row["identifiers"], "attributes": row["attributes"],
                      "tags": None, "sections": None, "exported_at": "2025-01-01T00:00:00Z"}


def test_profile_falls_back_to_custom_id_and_rejects_neither() -> None:
    assert map_profile({"identifiers": {"custom_id": "u9"}}, "t")["profile_id"] == "u9"
    with pytest.raises(KeyError):
        map_profile({"identifiers": {}}, "t")


def test_event_maps_and_keeps_unknown_event_fields() -> None:
    row = {"identifiers": IDS, "event": {"id": "e1", "name": "e.purchase",
                                         "timestamp": "2025-01-02T03:04:05Z",
                                         "attributes": {"amount": 3.5}, "label": "x"}}
    record = map_event(row, "t")
    assert (record["source"], record["event_id"], record["name"], record["timestamp"]) == (
        "batch", "e1", "e.purchase", "2025-01-02T03:04:05Z")
    assert record["attributes"] == {"amount": 3.5} and record["extra"] == {"label": "x"}
    assert record["profile_id"] == "profile_1" and record["identifiers"] == IDS


@pytest.mark.parametrize("channel_key", ["channel", "export_type"])
def test_reachability_accepts_either_channel_key(channel_key: str) -> None:
    event = {"id": "r1", channel_key: "EMAIL", "timestamp": "2025-01-02T03:04:05Z",
             "reasons": ["EMAIL_ADDRESS_ADDED"], "has_phone_number": False,
             "has_email_address": True, "sms_marketing": "subscribed",
             "email_marketing": "subscribed", "is_optin": False, "platform": "iOS"}
    record = map_reachability({"identifiers": IDS, "event": event}, "t")
    assert record["channel"] == "EMAIL" and record["installation_id"] == "inst-1"
    assert record["reasons"] == ["EMAIL_ADDRESS_ADDED"] and record["extra"] is None
