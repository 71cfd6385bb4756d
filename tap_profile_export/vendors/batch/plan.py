"""Which Batch exports each stream partition needs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tap_profile_export.exports import (
    ExportRunner,
    ExportSpec,
)
from tap_profile_export.http import HttpClient
from tap_profile_export.settings import TapSettings
from tap_profile_export.vendors.base import events_start, inflight_windows
from tap_profile_export.vendors.batch.client import (
    EXPORT_TYPES,
    KINDS,
    LOGGER,
    BatchAdapter,
    earliest_start,
)
from tap_profile_export.vendors.batch.settings import BatchSettings
from tap_profile_export.windows import split_windows, to_rfc3339


class BatchVendor:
    """Plans Batch exports for the profiles, events and reachability_events streams."""

    name = "batch"

    def __init__(self, settings: BatchSettings, tap_settings: TapSettings, now: datetime) -> None:
        self.settings = settings
        self.tap_settings = tap_settings
        self.now = now
        http = HttpClient(
            vendor="batch", api_url=settings.api_url, timeout=tap_settings.http_timeout,
            retry=tap_settings.retry,
            auth_headers=lambda: {"Authorization": f"Bearer {settings.api_key}",
                                  "X-Batch-Project": settings.project_key})
        self.adapter = BatchAdapter(settings, http)
        self.runner = ExportRunner(self.adapter, retry=tap_settings.retry)

    def partitions(self, stream: str) -> list[dict[str, Any]]:
        """Batch feeds all three of its streams with one partition each."""
        return [{"source": "batch"}] if stream in KINDS else []

    def plan(self, stream: str, context: Mapping[str, Any], bookmark: datetime | None,
             exports: Mapping[str, Any]) -> list[ExportSpec]:
        """One attributes snapshot, or the event window from the bookmark to the end date.

        Bodies carry only configured lists (Batch declares every array `minItems: 1`). The
        lookback clamp of `from` happens when each export is created, not here.
        """
        kind = KINDS[stream]
        base: dict[str, Any] = {"export_type": EXPORT_TYPES[kind]}
        if self.settings.identifiers:
            base["identifiers"] = list(self.settings.identifiers)
        if kind == "attributes":
            body = dict(base)
            if self.settings.attributes:
                body["attributes"] = list(self.settings.attributes)
            if self.settings.segment:
                body["filter"] = {"segment": self.settings.segment}
            return [ExportSpec("batch", stream, kind, request=body)]
        end = self.tap_settings.end_date or self.now
        if bookmark and end <= bookmark:
            return []
        overlap = self.tap_settings.events_lookback
        start = events_start(bookmark, self.tap_settings.start_date, overlap)
        earliest = earliest_start(kind, self.now)
        if start is None:
            start = min(earliest, end)
            LOGGER.info("batch %s: no bookmark or start_date; starting at the earliest time Batch "
                        "still serves, %s", kind, to_rfc3339(start))
        elif bookmark and start < earliest <= bookmark:
            # Only the re-read overlap reaches past the lookback: nothing unread is skipped.
            start = min(earliest, end)
            LOGGER.info("batch %s: re-reading late events from %s only (90-day lookback)", kind,
                        to_rfc3339(start))
        specs = []
        for window in split_windows(start, end, None, inflight_windows(exports, kind, overlap)):
            body = {**base, "from": to_rfc3339(window[0]), "to": to_rfc3339(window[1])}
            if kind == "events" and self.settings.events:
                body["events"] = list(self.settings.events)
            specs.append(ExportSpec("batch", stream, kind, window=window, request=body))
        return specs

    def close(self) -> None:
        """Close the HTTP session."""
        self.adapter.http.close()
