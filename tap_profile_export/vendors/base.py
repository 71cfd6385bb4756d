"""What the streams need from a vendor: its partitions and an export plan per partition."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from tap_profile_export.exports import ExportRunner, ExportSpec
from tap_profile_export.windows import parse_rfc3339


class Vendor(Protocol):
    """One vendor: which streams it feeds, and the exports each stream partition needs."""

    name: str
    runner: ExportRunner

    def partitions(self, stream: str) -> list[dict[str, Any]]:
        """Stream contexts this vendor contributes (empty when it does not feed `stream`)."""

    def plan(self, stream: str, context: Mapping[str, Any], bookmark: datetime | None,
             exports: Mapping[str, Any]) -> list[ExportSpec]:
        """Exports to read, in order, for one partition; `exports` holds in-flight ones."""

    def close(self) -> None:
        """Release HTTP sessions."""


def inflight_windows(exports: Mapping[str, Any], kind: str) -> list[tuple[datetime, datetime]]:
    """Windows of in-flight exports of `kind` recorded in state (to resume them as planned)."""
    windows = []
    for entry in exports.values():
        if entry.get("kind") == kind and entry.get("window"):
            start, end = entry["window"]
            windows.append((parse_rfc3339(start), parse_rfc3339(end)))
    return windows
