"""The `apsis` settings block: schema (the single source of its defaults) and typed view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from singer_sdk import typing as th

from tap_profile_export.checks import (
    STRINGS,
    block_defaults,
    check_base_url,
    number,
    positive_int,
    required,
    secret,
    strings,
)
from tap_profile_export.errors import SettingError

APSIS_MAX_ATTRIBUTES = 75
APSIS_MAX_TAGS = 25
APSIS_MAX_WINDOW_DAYS = 92

BLOCK = th.Property(
    "apsis",
    th.ObjectType(
        th.Property("client_id", th.StringType, description="APSIS One API client id."),
        secret("client_secret", "APSIS One API client secret."),
        th.Property("api_url", th.StringType, default="https://api.apsis.one",
                    description="APSIS One API base URL (EU or https://api-apac.apsis.one)."),
        th.Property("segment_filter", th.ObjectType(additional_properties=True),
                    description="Optional segment filter object passed through as is."),
        th.Property("attributes", STRINGS,
                    description="Attributes to export, by id or by name (at most 75). Names "
                                "are resolved through the account's definitions (README "
                                "'APSIS definitions and names')."),
        th.Property("tags", STRINGS,
                    description="Tags to export, by id or by name (at most 25)."),
        th.Property("events", STRINGS,
                    description="Event types for the events stream, by id or by name (empty: "
                                "no events)."),
        th.Property("window_days", th.IntegerType, default=7,
                    description="Days of events per export window, 1 to 92."),
        th.Property("min_seconds_between_exports", th.NumberType, default=60,
                    description="Pause between event-export requests (vendor: 1/minute)."),
        th.Property("max_concurrent_exports", th.IntegerType, default=3,
                    description="Exports created up front and awaited together (APSIS "
                                "answers 429 beyond its pending-export limit)."),
    ),
    description="APSIS One profile-in-segment event export. Enabled when set.",
)
#: The schema default of `apsis.<key>` (the only place defaults live).
default = block_defaults(BLOCK)


@dataclass(frozen=True)
class ApsisSettings:
    """APSIS One connection and export request settings."""

    client_id: str
    client_secret: str
    api_url: str
    segment_filter: Mapping[str, Any] | None
    attributes: tuple[str, ...]
    tags: tuple[str, ...]
    events: tuple[str, ...]
    window_days: int
    min_seconds_between_exports: float
    max_concurrent_exports: int = default("max_concurrent_exports")


def check_limits(attributes: tuple[str, ...], tags: tuple[str, ...]) -> None:
    """APSIS's limits on one export request: at most 75 attributes and 25 tags (distinct), at
    least one of them. Checked on the configured values, and again once names are resolved."""
    if len(set(attributes)) > APSIS_MAX_ATTRIBUTES:
        raise SettingError("apsis.attributes", f"at most {APSIS_MAX_ATTRIBUTES} allowed, got "
                                               f"{len(set(attributes))}")
    if len(set(tags)) > APSIS_MAX_TAGS:
        raise SettingError("apsis.tags", f"at most {APSIS_MAX_TAGS} allowed, got "
                                         f"{len(set(tags))}")
    if not attributes and not tags:
        raise SettingError("apsis.attributes", "set at least one attribute or tag "
                                               "(APSIS exports no profiles without one)")


def parse(block: Mapping[str, Any]) -> ApsisSettings:
    """Check the `apsis` block (SettingError names the setting)."""
    attributes = strings(block, "apsis.attributes")
    tags = strings(block, "apsis.tags")
    check_limits(attributes, tags)
    window_days = block.get("window_days", default("window_days"))
    if (isinstance(window_days, bool) or not isinstance(window_days, int)
            or not 1 <= window_days <= APSIS_MAX_WINDOW_DAYS):
        raise SettingError("apsis.window_days",
                           f"must be an integer from 1 to {APSIS_MAX_WINDOW_DAYS}, "
                           f"got {window_days!r}")
    segment_filter = block.get("segment_filter")
    if segment_filter is not None and not isinstance(segment_filter, Mapping):
        raise SettingError("apsis.segment_filter", "must be an object")
    return ApsisSettings(
        client_id=required(block, "apsis.client_id"),
        client_secret=required(block, "apsis.client_secret"),
        api_url=check_base_url("apsis.api_url", block.get("api_url") or default("api_url")),
        segment_filter=segment_filter,
        attributes=attributes,
        tags=tags,
        events=strings(block, "apsis.events"),
        window_days=window_days,
        min_seconds_between_exports=number(block, "apsis.min_seconds_between_exports",
                                           default("min_seconds_between_exports")),
        max_concurrent_exports=positive_int(block, "apsis.max_concurrent_exports",
                                            default("max_concurrent_exports")),
    )
