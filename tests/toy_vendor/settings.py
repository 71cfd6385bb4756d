"""The `toy` settings block: schema (its defaults) and typed view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from singer_sdk import typing as th

from tap_profile_export.checks import (
    block_defaults,
    check_base_url,
    positive_int,
    required,
    secret,
)

BLOCK = th.Property(
    "toy",
    th.ObjectType(
        secret("api_key", "Toy API key."),
        th.Property("api_url", th.StringType, description="Toy API base URL."),
        th.Property("max_concurrent_exports", th.IntegerType, default=1,
                    description="Exports created up front and awaited together."),
    ),
    description="The toy vendor. Enabled when set.",
)
default = block_defaults(BLOCK)


@dataclass(frozen=True)
class ToySettings:
    """Toy connection settings."""

    api_key: str
    api_url: str
    max_concurrent_exports: int = default("max_concurrent_exports")


def parse(block: Mapping[str, Any]) -> ToySettings:
    """Check the `toy` block."""
    return ToySettings(
        api_key=required(block, "toy.api_key"),
        api_url=check_base_url("toy.api_url", required(block, "toy.api_url")),
        max_concurrent_exports=positive_int(block, "toy.max_concurrent_exports",
                                            default("max_concurrent_exports")),
    )
