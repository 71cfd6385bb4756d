"""Settings validation: the contract's limits, each error naming its setting."""

from __future__ import annotations

from typing import Any

import pytest

from tap_profile_export.errors import SettingError
from tap_profile_export.settings import (
    CONFIG_SCHEMA,
    PollSettings,
    RetrySettings,
    parse_settings,
    schema_default,
)
from tap_profile_export.vendors.braze.settings import BRAZE_FIELDS

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
    assert settings.braze and settings.braze.fields_to_export == ()
    for kind, fields in BRAZE_FIELDS.items():
        assert settings.braze.fields_for(kind) == fields
    assert sorted(settings.secrets) == ["k", "rest_k", "s"]


def test_one_default_per_setting_from_the_schema() -> None:
    """Dataclass defaults and parser fallbacks are the schema's `default`, nothing else."""
    settings = parse_settings({"batch": BATCH, "apsis": APSIS, "braze": BRAZE})
    assert settings.poll == PollSettings() and settings.retry == RetrySettings()
    assert settings.http_timeout == schema_default("http_timeout_seconds")
    assert settings.events_lookback.total_seconds() == 60 * schema_default(
        "events_lookback_minutes")
    assert settings.type_conformance == CONFIG_SCHEMA["properties"]["type_conformance"]["default"]
    assert settings.activate_version == schema_default("activate_version")
    for name in ("batch", "apsis", "braze"):
        block = getattr(settings, name)
        assert block.max_concurrent_exports == schema_default(f"{name}.max_concurrent_exports")
    assert settings.apsis and settings.apsis.window_days == schema_default("apsis.window_days")
    assert settings.apsis.min_seconds_between_exports == schema_default(
        "apsis.min_seconds_between_exports")
    with pytest.raises(KeyError):
        schema_default("batch.api_key")  # no default: a required setting


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
    ({"poll": []}, "poll"),
    ({"retry": "fast"}, "retry"),
    ({"batch": []}, "batch"),
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


def test_braze_default_fields_are_exactly_the_documented_lists() -> None:
    # braze-docs post_users_segment.md / post_users_identifier.md /
    # post_users_global_control_group.md, "Fields to export".
    segment = {"apps", "attributed_campaign", "attributed_source", "attributed_adgroup",
               "attributed_ad", "push_subscribe", "email_subscribe", "braze_id", "country",
               "created_at", "custom_attributes", "custom_events", "devices", "dob", "email",
               "external_id", "first_name", "gender", "home_city", "language",
               "last_coordinates", "last_name", "phone", "purchases", "push_tokens",
               "random_bucket", "time_zone", "total_revenue", "uninstalled_at", "user_aliases"}
    assert set(BRAZE_FIELDS["segment"]) == segment and len(BRAZE_FIELDS["segment"]) == 30
    assert set(BRAZE_FIELDS["ids"]) == segment
    assert set(BRAZE_FIELDS["global_control_group"]) == segment - {
        "push_subscribe", "email_subscribe", "push_tokens"}
    for fields in BRAZE_FIELDS.values():  # only seen in response examples
        assert not {"campaigns_received", "canvases_received", "cards_clicked",
                    "push_opted_in_at"} & set(fields)


def test_braze_unknown_field_is_a_config_error_unless_allowed() -> None:
    with pytest.raises(SettingError) as info:
        parse_settings({"braze": {**BRAZE, "fields_to_export": ["email", "campaigns_received"]}})
    assert info.value.setting == "braze.fields_to_export"
    assert "'campaigns_received'" in str(info.value) and "allow_unknown_fields" in str(info.value)
    settings = parse_settings({"braze": {**BRAZE, "allow_unknown_fields": True,
                                         "fields_to_export": ["email", "campaigns_received"]}})
    assert settings.braze
    assert settings.braze.fields_for("global_control_group") == (
        "email", "campaigns_received", "braze_id")
    assert setting_error({"braze": {**BRAZE, "allow_unknown_fields": "yes"}}) == \
        "braze.allow_unknown_fields"


def test_braze_fields_per_endpoint_and_control_group_custom_attributes() -> None:
    settings = parse_settings({"braze": {**BRAZE, "fields_to_export": ["email", "push_tokens"],
                                         "custom_attributes_to_export": ["tier"]}})
    assert settings.braze
    assert settings.braze.fields_for("segment") == ("email", "push_tokens", "braze_id")
    # push_tokens is not documented for the control group; custom attributes come through
    # fields_to_export there (the endpoint takes no custom_attributes_to_export).
    assert settings.braze.fields_for("global_control_group") == (
        "email", "braze_id", "custom_attributes")
