"""The vendor-neutral export-job lifecycle: create → wait → read parts → done.

The model of the lifecycle: what to export (`ExportSpec`), where an export stands
(`ExportStatus`, `ExportCheck`), its typed in-flight state (`InFlightExport`), and what a vendor
client implements (`ExportAdapter`). State of a job in flight (JSON, no secrets) lives in the
stream partition's state under `exports[<spec key>]` so an interrupted run resumes the same
export.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import IO, Any, Protocol

import requests
import urllib3

from tap_profile_export.errors import (
    ExportFailedError,
    ExportTimeoutError,
)
from tap_profile_export.progress import human_bytes
from tap_profile_export.windows import parse_rfc3339, to_rfc3339

#: Failures of a download in progress that are worth re-opening the part for.
DOWNLOAD_ERRORS: tuple[type[BaseException], ...] = (
    requests.RequestException, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError,
)


@dataclass(frozen=True)
class ExportSpec:
    """One export a stream needs: what to ask the vendor for, and for which window or scope."""

    vendor: str
    stream: str
    kind: str
    window: tuple[datetime, datetime] | None = None
    scope: str | None = None
    request: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> str:
        """Stable identity of this export in state."""
        if self.window:
            return f"{self.kind}:{to_rfc3339(self.window[0])}/{to_rfc3339(self.window[1])}"
        return f"{self.kind}:{self.scope}" if self.scope else self.kind

    def for_window(self, window: tuple[datetime, datetime],
                   fields: tuple[str, str]) -> ExportSpec:
        """The same export over another window; `fields` name the request's window bounds
        (the vendor's own names, e.g. `from`/`to`)."""
        request = {**self.request, fields[0]: to_rfc3339(window[0]),
                   fields[1]: to_rfc3339(window[1])}
        return replace(self, window=window, request=request)

    @property
    def label(self) -> str:
        """Human description for logs and errors, e.g. 'batch events export 2025-01-01…'."""
        text = f"{self.vendor} {self.kind} export"
        if self.window:
            text += f" [{to_rfc3339(self.window[0])} → {to_rfc3339(self.window[1])})"
        if self.scope:
            text += f" ({self.scope})"
        return text


#: Version of the in-flight state written by `InFlightExport.to_json` (state without a
#: `version` key was written before it existed and has the same layout: version 0).
STATE_VERSION = 1


@dataclass
class InFlightExport:
    """One export in flight, as recorded in the partition state under `exports[<spec key>]`.

    JSON, no secrets. The vendor's own handle fields (poll URL, signed URL, flags) stay in
    `handle`; `export_id` and `vendor_created_at` are written inside it too, so the layout of
    older states (and what an older tap reads) is unchanged.
    """

    export_id: str
    created_at: str
    vendor: str = ""
    kind: str = ""
    #: The vendor's clock when the export was created (its `Date` answer), if known.
    vendor_created_at: str | None = None
    #: Vendor-specific fields a client needs to check and download the export.
    handle: dict[str, Any] = field(default_factory=dict)
    window: tuple[str, str] | None = None
    scope: str | None = None
    parts_done: list[str] = field(default_factory=list)
    #: Seconds spent waiting for it to be ready, over every run.
    waited_seconds: float = 0.0
    version: int = STATE_VERSION
    #: Not created yet: half of a window whose export failed for its size (kept in state so
    #: a killed run plans the same halves).
    planned: bool = False

    @classmethod
    def new(cls, spec: ExportSpec, handle: Mapping[str, Any], created_at: str) -> InFlightExport:
        """The entry of an export just created for `spec` (`handle` as its client answered)."""
        return cls.from_json({"vendor": spec.vendor, "kind": spec.kind, "created_at": created_at,
                              "handle": dict(handle),
                              "window": [to_rfc3339(t) for t in spec.window]
                              if spec.window else None, "scope": spec.scope})

    @classmethod
    def placeholder(cls, spec: ExportSpec, created_at: str) -> InFlightExport:
        """The state entry of a window planned but not yet exported (a split half)."""
        entry = cls.new(spec, {"export_id": "(not created)"}, created_at)
        entry.planned = True
        return entry

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InFlightExport:
        """Read an entry of any state version (0: no `version` key, same layout)."""
        version = int(data.get("version") or 0)
        if version > STATE_VERSION:
            raise ValueError(f"in-flight export state version {version} is newer than this "
                             f"tap understands ({STATE_VERSION})")
        handle = dict(data.get("handle") or {})
        export_id = handle.pop("export_id", None) or handle.pop("id", None) or "?"
        window = data.get("window")
        return cls(
            export_id=str(export_id),
            created_at=str(data.get("created_at") or "1970-01-01T00:00:00Z"),
            vendor=str(data.get("vendor") or ""),
            kind=str(data.get("kind") or ""),
            vendor_created_at=handle.pop("vendor_created_at", None),
            handle=handle,
            window=(str(window[0]), str(window[1])) if window else None,
            scope=data.get("scope") or None,
            parts_done=[str(p) for p in data.get("parts_done") or []],
            waited_seconds=float(data.get("waited_seconds") or 0),
            planned=bool(data.get("planned")),
        )

    def to_json(self) -> dict[str, Any]:
        """The state entry (current version)."""
        handle: dict[str, Any] = {"export_id": self.export_id}
        if self.vendor_created_at:
            handle["vendor_created_at"] = self.vendor_created_at
        handle.update(self.handle)
        data: dict[str, Any] = {"version": self.version, "vendor": self.vendor,
                                "kind": self.kind, "created_at": self.created_at,
                                "handle": handle, "parts_done": list(self.parts_done)}
        if self.window:
            data["window"] = list(self.window)
        if self.scope:
            data["scope"] = self.scope
        if self.waited_seconds:
            data["waited_seconds"] = self.waited_seconds
        if self.planned:
            data["planned"] = True
        return data

    @property
    def created(self) -> datetime:
        """When the export was created: the vendor's clock when known, else ours.

        The export holds the data that had reached the vendor by then, so no bookmark moves
        past it.
        """
        return parse_rfc3339(self.vendor_created_at or self.created_at)

    @property
    def window_range(self) -> tuple[datetime, datetime] | None:
        """The event window, parsed."""
        if not self.window:
            return None
        return parse_rfc3339(self.window[0]), parse_rfc3339(self.window[1])


@dataclass
class ExportPart:
    """One downloadable piece of a ready export (a file, a ZIP member's archive, a chunk)."""

    key: str
    label: str
    size: int | None = None
    ref: Any = None
    #: Bytes the vendor states the part has (Batch `files[].size`): the part is complete only
    #: when exactly that many were read.
    expected_bytes: int | None = None


class IncompletePartError(Exception):
    """A part ended before the size its vendor stated (retried like a broken download)."""


RETRIED_PART_ERRORS: tuple[type[BaseException], ...] = (*DOWNLOAD_ERRORS, IncompletePartError)


class ExportStatus(enum.Enum):
    """Where an export stands, vendor-neutral (each client maps its vendor's answers here)."""

    PENDING = "pending"
    RUNNING = "running"
    READY = "ready"
    #: The vendor reports the export failed: a new one is created (a bounded number of times).
    FAILED = "failed"
    #: The vendor no longer serves it (unknown, expired link): a new one is created.
    GONE = "gone"

    @property
    def terminal(self) -> bool:
        """No point checking again."""
        return self in (ExportStatus.READY, ExportStatus.FAILED, ExportStatus.GONE)


@dataclass
class ExportCheck:
    """Answer of one readiness check: the status, the vendor's own words, and when READY the
    parts to read."""

    status: ExportStatus
    #: The vendor's status (`RUNNING`, `NOT_READY (404)`) or, when FAILED/GONE, what happened.
    detail: str
    parts: list[ExportPart] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """READY: the parts can be read."""
        return self.status is ExportStatus.READY


@dataclass(frozen=True)
class ExportSummary:
    """What one export cost: waiting, bytes, records, reading time."""

    label: str
    export_id: str
    waited_seconds: float
    bytes_read: int
    records: int
    read_seconds: float

    def line(self) -> str:
        """One summary line for the end-of-run log."""
        return (f"{self.label} {self.export_id}: waited {self.waited_seconds:.1f}s, "
                f"{human_bytes(self.bytes_read)}, {self.records} records in "
                f"{self.read_seconds:.1f}s")


#: Shortest window a failing export is split into (halves of at least this long).
MIN_SPLIT_WINDOW = timedelta(hours=1)


def halve(window: tuple[datetime, datetime]) -> list[tuple[datetime, datetime]] | None:
    """`window` cut at its midpoint (whole seconds), or None when a half would be shorter
    than `MIN_SPLIT_WINDOW`. The halves are contiguous and their union is exactly `window`."""
    start, end = window
    if end - start < 2 * MIN_SPLIT_WINDOW:
        return None
    middle = start + timedelta(seconds=(end - start).total_seconds() // 2)
    return [(start, middle), (middle, end)]


class SplitWindow(ExportFailedError):
    """An event window's export failed repeatedly (too large for the vendor): read `halves`
    instead. Raised by the coordinator, handled by the stream that planned the window."""

    def __init__(self, message: str, halves: list[ExportSpec]) -> None:
        super().__init__(message)
        self.halves = halves


class RecreateExport(ExportFailedError):
    """Raised while *reading* (opening a part) when the vendor no longer serves the export: a
    new one is created. Readiness checks answer `ExportStatus.GONE`/`FAILED` instead."""


class ExportAdapter(Protocol):
    """What a vendor module implements for the lifecycle.

    Optional: `window_fields` (the request keys of an event window's bounds: a window whose
    export keeps failing is then split in halves), `size_hint` (what to configure smaller
    when an export that cannot be split keeps failing), `late_parts` (files written after the
    export looked complete).
    """

    vendor: str

    def create(self, spec: ExportSpec) -> dict[str, Any]:
        """Ask the vendor for the export; return a JSON-able handle (ids, URLs; no secrets)."""

    def check(self, spec: ExportSpec, entry: InFlightExport) -> ExportCheck:
        """One readiness check, mapped onto `ExportStatus` (errors only for real failures:
        an answer that makes no sense, retries exhausted)."""

    def open_part(self, spec: ExportSpec, entry: InFlightExport,
                  part: ExportPart) -> AbstractContextManager[IO[bytes]]:
        """Open the raw byte stream of one part (compressed or not)."""

    def read_part(self, spec: ExportSpec, entry: InFlightExport, stream: IO[bytes],
                  source: str) -> Iterator[dict[str, Any]]:
        """Parse one part and yield finished Singer records."""

    def resume_problem(self, spec: ExportSpec, entry: InFlightExport) -> str | None:
        """Why an in-flight export from state can no longer be resumed (None: it can)."""


Checkpoint = Callable[[], None]


def timeout_error(spec: ExportSpec, entry: InFlightExport, waited: float, timeout: float,
                  status: str) -> ExportTimeoutError:
    """The deadline error: names the export, how long it waited and what to do."""
    return ExportTimeoutError(
        f"{spec.label}: export {entry.export_id} not ready after {waited:.0f}s "
        f"(poll.timeout_seconds={timeout:g}, last status {status}). It stays in state; the "
        f"next run resumes it.")


def save(exports: MutableMapping[str, Any], spec: ExportSpec, entry: InFlightExport,
         checkpoint: Checkpoint) -> None:
    """Write `entry` into the partition's in-flight table and emit STATE."""
    exports[spec.key] = entry.to_json()
    checkpoint()


def vendor_time(response: Any) -> str | None:
    """The vendor's clock from an HTTP answer's `Date` header (RFC 3339), if it has one."""
    try:
        value = parsedate_to_datetime(response.headers.get("Date") or "")
    except (TypeError, ValueError):
        return None
    return to_rfc3339(value) if value.tzinfo else None

