"""Which APSIS exports each stream partition needs: one profiles snapshot, event windows; and
the account's definitions (streams `apsis_*`, names in the settings)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from tap_profile_export.exports import (
    ExportRunner,
    ExportSpec,
)
from tap_profile_export.http import HttpClient
from tap_profile_export.settings import TapSettings
from tap_profile_export.vendors.apsis.auth import TokenProvider
from tap_profile_export.vendors.apsis.client import LOGGER, ApsisAdapter
from tap_profile_export.vendors.apsis.definitions import ApsisDefinitions
from tap_profile_export.vendors.apsis.names import resolve_settings
from tap_profile_export.vendors.apsis.settings import APSIS_MAX_WINDOW_DAYS, ApsisSettings
from tap_profile_export.vendors.base import events_start, inflight_windows
from tap_profile_export.windows import split_windows, to_rfc3339


class ApsisVendor:
    """Plans APSIS exports: one profiles snapshot, and event windows of `window_days`."""

    name = "apsis"

    def __init__(self, settings: ApsisSettings, tap_settings: TapSettings, now: datetime) -> None:
        self.settings = settings
        self.tap_settings = tap_settings
        self.now = now
        token_http = HttpClient(vendor="apsis", api_url=settings.api_url, auth_headers=dict,
                                timeout=tap_settings.http_timeout, retry=tap_settings.retry)
        self.tokens = TokenProvider(settings, token_http)
        http = HttpClient(vendor="apsis", api_url=settings.api_url,
                          auth_headers=self.tokens.headers, on_unauthorized=self.tokens.invalidate,
                          timeout=tap_settings.http_timeout, retry=tap_settings.retry)
        self.adapter = ApsisAdapter(settings, http)
        self.runner = ExportRunner(self.adapter, retry=tap_settings.retry)
        #: Sections, attributes, tags and event types: same client, token and rate limit.
        self.definitions = ApsisDefinitions(settings.api_url, http)
        self._resolved: ApsisSettings | None = None

    def request_settings(self) -> ApsisSettings:
        """The settings with names resolved to ids (read once, before any export is created;
        SettingError for an unknown or ambiguous name)."""
        if self._resolved is None:
            self._resolved = resolve_settings(self.settings, self.definitions.catalogue)
            self.adapter.settings = self._resolved  # tags are told apart from attributes by id
        return self._resolved

    def definition_records(self, stream: str) -> Iterator[dict[str, Any]]:
        """Records of a definition stream (`apsis_sections`, `apsis_attributes`, …)."""
        return self.definitions.records(stream.removeprefix("apsis_"))

    def partitions(self, stream: str) -> list[dict[str, Any]]:
        """`profiles` always; `events` only when event types are configured."""
        if stream == "profiles" or (stream == "events" and self.settings.events):
            return [{"source": "apsis"}]
        return []

    def plan(self, stream: str, context: Mapping[str, Any], bookmark: datetime | None,
             exports: Mapping[str, Any]) -> list[ExportSpec]:
        """The profiles snapshot, or one export per event window."""
        ids = self.request_settings()
        body: dict[str, Any] = {"attributes": list(ids.attributes), "tags": list(ids.tags)}
        if self.settings.segment_filter is not None:
            body["segment_filter"] = self.settings.segment_filter
        if stream == "profiles":
            return [ExportSpec("apsis", stream, "profiles", request=body)]
        end = self.tap_settings.end_date or self.now
        if bookmark and end <= bookmark:
            return []
        overlap = self.tap_settings.events_lookback
        start = events_start(bookmark, self.tap_settings.start_date, overlap)
        # The overlap re-read rides on the first window (no extra paced export for it), as long
        # as that window stays within what APSIS accepts.
        extra = min(overlap, timedelta(days=APSIS_MAX_WINDOW_DAYS - self.settings.window_days)) \
            if bookmark else timedelta(0)
        if start is None:
            start = end - timedelta(days=self.settings.window_days)
            LOGGER.info("apsis events: no bookmark or start_date; exporting the last %d day(s) "
                        "from %s", self.settings.window_days, to_rfc3339(start))
        windows = split_windows(start, end, self.settings.window_days,
                                inflight_windows(exports, "events", overlap), first_extra=extra)
        return [ExportSpec("apsis", stream, "events", window=w,
                           request={**body, "events": list(ids.events),
                                    "start_at": to_rfc3339(w[0]), "end_at": to_rfc3339(w[1])})
                for w in windows]

    def close(self) -> None:
        """Close HTTP sessions."""
        self.adapter.http.close()
        self.tokens.http.close()
