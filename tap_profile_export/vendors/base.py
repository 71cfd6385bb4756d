"""What the streams need from a vendor: its partitions and an export plan per partition."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from tap_profile_export.exports import ExportRunner, ExportSpec, InFlightExport


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


class DefinitionSource(Protocol):
    """A vendor that also lists its account's definitions (streams read synchronously, no
    export): APSIS's sections, attributes, tags and event types."""

    def definition_records(self, stream: str) -> Iterator[dict[str, Any]]:
        """Every record of `stream` (raises TapProfileExportError when it cannot be read)."""


def inflight_windows(exports: Mapping[str, Any], kind: str, overlap: timedelta = timedelta(0)
                     ) -> list[tuple[datetime, datetime, datetime]]:
    """Windows of in-flight exports of `kind` recorded in state (to resume them as planned;
    split halves not created yet too),
    each with the instant up to which its export holds late-arriving events too (its creation
    time minus the overlap; see `split_windows`)."""
    windows = []
    for saved in exports.values():
        entry = InFlightExport.from_json(saved)
        if entry.kind == kind and entry.window_range:
            start, end = entry.window_range
            # A split half not created yet will hold every late event up to its end.
            complete = end if entry.planned else min(end, entry.created - overlap)
            windows.append((start, end, complete))
    return windows


def events_start(bookmark: datetime | None, start_date: datetime | None,
                 overlap: timedelta) -> datetime | None:
    """Where an event stream's range starts: `overlap` before the bookmark (late-arriving
    events), else the start date (a first run has nothing to re-read)."""
    return bookmark - overlap if bookmark else start_date
