"""Settings validation: the contract's limits, each error naming its setting."""

from __future__ import annotations

from typing import Any

import pytest

from tap_profile_export.errors import SettingError
from tap_profile_export.settings import BRAZE_DEFAULT_FIELDS, parse_settings

BATCH = {"api_key": "rest_k", "project_key": "project_p", "api_url": "https://api.batch.com",
         "identifiers": ["custom_id"], "attributes": []}
APSIS = {"client_id": "c", "client_secret": "s", "attributes": ["a1"], "tags": []}
BRAZE = {"api_key": "k", "rest_endpoint": "https://rest.iad-01.braze.com", "segment_ids": ["s1"]}


def setting_error(config: dict[str, Any]) -> str:
    with pytest.raises(SettingError) as info:
        parse_settings(config)
    return info.value.setting


def test_defaults_and_typed_view() -> None:
    settings = parse_settings({"batch": BATCH, "apsis": APSIS, "braze": BRAZE})
    assert settings.poll.initial_interval == 5 and settings.poll.timeout == 14400
    assert settings.apsis and settings.apsis.window_days == 7
    assert settings.braze and settings.braze.fields_to_export == BRAZE_DEFAULT_FIELDS
    assert sorted(settings.secrets) == ["k", "rest_k", "s"]


def test_vendor_disabled_when_block_absent() -> None:
    settings = parse_settings({"batch": BATCH})
    assert settings.apsis is None and settings.braze is None


@pytest.mark.parametrize(("config", "setting"), [
    ({"batch": {**BATCH, "identifiers": [], "attributes": []}}, "batch.identifiers"),
    ({"batch": {**BATCH, "api_key": ""}}, "batch.api_key"),
    ({"batch": {**BATCH, "api_url": "http://api.batch.com"}}, "batch.api_url"),
    ({"batch": {**BATCH, "api_url": "ftp://x"}}, "batch.api_url"),
    ({"apsis": {**APSIS, "attributes": [f"a{i}" for i in range(76)]}}, "apsis.attributes"),
    ({"apsis": {**APSIS, "tags": [f"t{i}" for i in range(26)]}}, "apsis.tags"),
    ({"apsis": {**APSIS, "attributes": [], "tags": []}}, "apsis.attributes"),
    ({"apsis": {**APSIS, "window_days": 0}}, "apsis.window_days"),
    ({"apsis": {**APSIS, "window_days": 93}}, "apsis.window_days"),
    ({"braze": {**BRAZE, "segment_ids": []}}, "braze.segment_ids"),
    ({"braze": {**BRAZE, "custom_attributes_to_export": ["x"] * 501}},
     "braze.custom_attributes_to_export"),
    ({"poll": {"timeout_seconds": -1}}, "poll.timeout_seconds"),
    ({"start_date": "2025-02-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z"}, "end_date"),
    ({"start_date": "yesterday"}, "start_date"),
    ({"events_lookback_minutes": -1}, "events_lookback_minutes"),
    ({"events_lookback_minutes": 1441}, "events_lookback_minutes"),
    ({"events_lookback_minutes": 1.5}, "events_lookback_minutes"),
])
def test_invalid_setting_is_named(config: dict[str, Any], setting: str) -> None:
    assert setting_error(config) == setting


@pytest.mark.parametrize("url", ["http://localhost:8750", "http://127.0.0.1:1", "http://[::1]:80"])
def test_plain_http_allowed_on_loopback(url: str) -> None:
    assert parse_settings({"batch": {**BATCH, "api_url": url + "/"}}).batch.api_url == url  # type: ignore[union-attr]


def test_limits_at_the_edge_are_accepted() -> None:
    settings = parse_settings({"apsis": {**APSIS, "attributes": [f"a{i}" for i in range(75)],
                                         "tags": [f"t{i}" for i in range(25)],
                                         "window_days": 92}})
    assert settings.apsis and len(settings.apsis.attributes) == 75


def test_braze_id_always_requested() -> None:
    settings = parse_settings({"braze": {**BRAZE, "fields_to_export": ["email"]}})
    assert settings.braze and settings.braze.fields_to_export == ("email", "braze_id")
