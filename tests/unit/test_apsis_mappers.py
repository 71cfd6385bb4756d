"""APSIS profile documents → profiles and events records; token caching."""

from __future__ import annotations

import base64
import json

import requests_mock

from tap_profile_export.http import HttpClient
from tap_profile_export.settings import parse_settings
from tap_profile_export.vendors.apsis.auth import TokenProvider
from tap_profile_export.vendors.apsis.records import event_id, map_events, map_profile

PROFILE = {"sections": {
    "com.shop": {"attributes": {"email": {"value": "a@b.c"}, "vip": {"value": None},
                                "age": {"value": 41}},
                 "events": [
                     {"correlationId": "c1", "sourceEventTime": 1735787045000, "typeId": "t.buy",
                      "createdAt": 1735787046000, "data": {"sum": 9.5}},
                     {"correlationId": "c2", "sourceEventTime": 0, "typeId": "t.view",
                      "createdAt": 1735787047123, "data": {}}]},
    "com.blog": {"attributes": {"newsletter": {"value": None}}}}}


def test_profile_separates_tags_from_attributes_per_section() -> None:
    record = map_profile("pk-1", PROFILE, frozenset({"vip", "newsletter"}), "2025-01-01T00:00:00Z")
    assert record["profile_id"] == "pk-1" and record["source"] == "apsis"
    assert record["attributes"] == {"email": "a@b.c", "age": 41}
    assert record["tags"] == ["newsletter", "vip"]
    assert record["sections"] == {
        "com.shop": {"attributes": {"email": "a@b.c", "age": 41}, "tags": ["vip"]},
        "com.blog": {"attributes": {}, "tags": ["newsletter"]}}


def test_events_use_source_time_or_created_at() -> None:
    first, second = map_events("pk-1", PROFILE)
    assert first["timestamp"] == "2025-01-02T03:04:05.000Z"
    assert first["created_at"] == "2025-01-02T03:04:06.000Z"
    assert (first["name"], first["section_id"], first["correlation_id"]) == (
        "t.buy", "com.shop", "c1")
    assert first["data"] == {"sum": 9.5}
    assert second["timestamp"] == "2025-01-02T03:04:07.123Z"


def test_event_id_is_stable_and_distinguishes_retries() -> None:
    event = PROFILE["sections"]["com.shop"]["events"][0]
    assert event_id("pk-1", "com.shop", event) == event_id("pk-1", "com.shop", dict(event))
    retried = {**event, "sourceEventTime": event["sourceEventTime"] + 1}
    assert event_id("pk-1", "com.shop", retried) != event_id("pk-1", "com.shop", event)
    unknown_time = {**event, "sourceEventTime": 0}
    later = {**unknown_time, "createdAt": unknown_time["createdAt"] + 5}
    assert event_id("pk-1", "com.shop", unknown_time) != event_id("pk-1", "com.shop", later)
    assert len(event_id("pk-1", "com.shop", event)) == 32


def jwt(exp: float) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"exp": exp}).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.sig"


def test_token_cached_until_shortly_before_exp() -> None:
    settings = parse_settings({"apsis": {"client_id": "cid", "client_secret": "csecret",
                                         "api_url": "https://api.apsis.one",
                                         "attributes": ["a"]}}).apsis
    assert settings is not None
    now = [1_000_000.0]
    http = HttpClient(vendor="apsis", api_url=settings.api_url, auth_headers=dict, timeout=5)
    tokens = TokenProvider(settings, http, clock=lambda: now[0], sleep=lambda s: None)
    with requests_mock.Mocker() as m:
        m.post("https://api.apsis.one/oauth/token",
               [{"json": {"access_token": jwt(now[0] + 3600), "expires_in": 86400}},
                {"json": {"access_token": jwt(now[0] + 7200), "expires_in": 86400}}])
        first = tokens.headers()
        now[0] += 3000
        assert tokens.headers() == first and m.call_count == 1
        now[0] += 500  # within the early-refresh margin of the JWT exp
        assert tokens.headers() != first and m.call_count == 2
        assert m.request_history[0].json() == {"grant_type": "client_credentials",
                                               "client_id": "cid", "client_secret": "csecret"}
