"""The `batch` settings block: schema (the single source of its defaults) and typed view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from singer_sdk import typing as th

from tap_profile_export.checks import (
    STRINGS,
    block_defaults,
    check_base_url,
    positive_int,
    required,
    secret,
    strings,
)
from tap_profile_export.errors import SettingError

BLOCK = th.Property(
    "batch",
    th.ObjectType(
        secret("api_key", "Batch REST API key (sent as Authorization: Bearer)."),
        th.Property("project_key", th.StringType,
                    description="Batch project key (sent as X-Batch-Project)."),
        th.Property("api_url", th.StringType, default="https://api.batch.com",
                    description="Batch API base URL; the tap appends /2.4/…"),
        th.Property("identifiers", STRINGS,
                    description="Identifiers to export, e.g. custom_id, installation_ids."),
        th.Property("attributes", STRINGS,
                    description="Profile attributes to export ($native or custom names)."),
        th.Property("events", STRINGS,
                    description="Optional event-name filter for the events export."),
        th.Property("segment", th.StringType,
                    description="Optional segment code filtering the attributes export."),
        th.Property("max_concurrent_exports", th.IntegerType, default=3,
                    description="Exports created up front and awaited together."),
    ),
    description="Batch.com Profile API export. The vendor is enabled when this block is set.",
)
#: The schema default of `batch.<key>` (the only place defaults live).
default = block_defaults(BLOCK)


@dataclass(frozen=True)
class BatchSettings:
    """Batch.com connection and export request settings."""

    api_key: str
    project_key: str
    api_url: str
    identifiers: tuple[str, ...]
    attributes: tuple[str, ...]
    events: tuple[str, ...]
    segment: str | None
    max_concurrent_exports: int = default("max_concurrent_exports")


def parse(block: Mapping[str, Any]) -> BatchSettings:
    """Check the `batch` block (SettingError names the setting)."""
    identifiers = strings(block, "batch.identifiers")
    attributes = strings(block, "batch.attributes")
    if not identifiers and not attributes:
        raise SettingError("batch.identifiers", "set at least one of batch.identifiers or "
                                                "batch.attributes")
    return BatchSettings(
        api_key=required(block, "batch.api_key"),
        project_key=required(block, "batch.project_key"),
        api_url=check_base_url("batch.api_url", block.get("api_url") or default("api_url")),
        identifiers=identifiers,
        attributes=attributes,
        events=strings(block, "batch.events"),
        segment=block.get("segment") or None,
        max_concurrent_exports=positive_int(block, "batch.max_concurrent_exports",
                                            default("max_concurrent_exports")),
    )
