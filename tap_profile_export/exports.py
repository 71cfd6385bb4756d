"""The vendor-neutral export-job lifecycle: create → wait → read parts → done.

A vendor adapter supplies the vendor-specific steps; `ExportRunner` supplies back-off, the
deadline, resume from state, retries of interrupted downloads, progress logs and checkpoints.
State of a job in flight (JSON, no secrets) lives in the stream partition's state under
`exports[<spec key>]` so an interrupted run resumes the same export.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import IO, Any, Protocol, cast

import requests
import urllib3

from tap_profile_export.errors import (
    ExportFailedError,
    ExportTimeoutError,
    TapProfileExportError,
    VendorHTTPError,
)
from tap_profile_export.progress import ReadProgress, Throttle, human_bytes
from tap_profile_export.readers import CountingReader
from tap_profile_export.redact import REDACTOR
from tap_profile_export.settings import DEFAULT_RETRY, PollSettings, RetrySettings
from tap_profile_export.windows import parse_rfc3339, to_rfc3339, utc_now

LOGGER = logging.getLogger("tap_profile_export.exports")
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

    @classmethod
    def new(cls, spec: ExportSpec, handle: Mapping[str, Any], created_at: str) -> InFlightExport:
        """The entry of an export just created for `spec` (`handle` as its client answered)."""
        return cls.from_json({"vendor": spec.vendor, "kind": spec.kind, "created_at": created_at,
                              "handle": dict(handle),
                              "window": [to_rfc3339(t) for t in spec.window]
                              if spec.window else None, "scope": spec.scope})

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


@dataclass
class Readiness:
    """Answer of one readiness check."""

    ready: bool
    status: str
    parts: list[ExportPart] = field(default_factory=list)


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


class RecreateExport(ExportFailedError):
    """The vendor no longer serves this export (gone, expired, failed): create a new one."""


class ExportAdapter(Protocol):
    """What a vendor module implements for the lifecycle."""

    vendor: str

    def create(self, spec: ExportSpec) -> dict[str, Any]:
        """Ask the vendor for the export; return a JSON-able handle (ids, URLs; no secrets)."""

    def check(self, spec: ExportSpec, entry: InFlightExport) -> Readiness:
        """One readiness check. Raise `RecreateExport` or `ExportFailedError` on failure."""

    def open_part(self, spec: ExportSpec, entry: InFlightExport,
                  part: ExportPart) -> AbstractContextManager[IO[bytes]]:
        """Open the raw byte stream of one part (compressed or not)."""

    def read_part(self, spec: ExportSpec, entry: InFlightExport, stream: IO[bytes],
                  source: str) -> Iterator[dict[str, Any]]:
        """Parse one part and yield finished Singer records."""

    def resume_problem(self, spec: ExportSpec, entry: InFlightExport) -> str | None:
        """Why an in-flight export from state can no longer be resumed (None: it can)."""


Checkpoint = Callable[[], None]


class Waiter(Protocol):
    """Waits for exports on a runner's behalf (the coordinator's concurrent poller)."""

    def wait(self, spec: ExportSpec, entry: InFlightExport) -> list[ExportPart] | None:
        """Parts of the ready export, or None when this export is not being watched."""

    def create_error(self, spec: ExportSpec) -> BaseException | None:
        """Why creating this export up front failed (None: it did not fail)."""


def timeout_error(spec: ExportSpec, entry: InFlightExport, waited: float, timeout: float,
                  status: str) -> ExportTimeoutError:
    """The deadline error: names the export, how long it waited and what to do."""
    return ExportTimeoutError(
        f"{spec.label}: export {entry.export_id} not ready after {waited:.0f}s "
        f"(poll.timeout_seconds={timeout:g}, last status {status}). It stays in state; the "
        f"next run resumes it.")


class ExportRunner:
    """Drives exports through the lifecycle for one adapter."""

    def __init__(self, adapter: ExportAdapter, poll: PollSettings, *,
                 retry: RetrySettings = DEFAULT_RETRY, max_recreates: int = 3,
                 max_part_attempts: int = 4, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.adapter = adapter
        self.poll = poll
        self.retry = retry
        self.max_recreates = max_recreates
        self.max_part_attempts = max_part_attempts
        self._sleep = sleep
        self._clock = clock
        #: Set by the coordinator when it waits for exports on this runner's behalf.
        self.waiter: Waiter | None = None
        self.summaries: list[ExportSummary] = []
        self._created_here: set[str] = set()
        #: Typed entries handed out this run, so every user of one export shares one object.
        self._live: dict[tuple[str, str], InFlightExport] = {}

    def ensure_created(self, spec: ExportSpec, exports: MutableMapping[str, Any],
                       checkpoint: Checkpoint) -> InFlightExport:
        """The resumable in-flight entry of `spec` from state, or a newly created export."""
        saved = exports.get(spec.key)
        if saved is not None:
            live = self._live.get((spec.stream, spec.key))
            entry = InFlightExport.from_json(saved)
            if live is not None and live.export_id == entry.export_id:
                entry = live
            self._live[(spec.stream, spec.key)] = entry
            problem = self.adapter.resume_problem(spec, entry)
            if not problem:
                if spec.key not in self._created_here:
                    LOGGER.info("%s: resuming export %s (created %s) from state", spec.label,
                                entry.export_id, entry.created_at)
                return entry
            LOGGER.info("%s: not resuming export %s from state (%s); creating a new one",
                        spec.label, entry.export_id, problem)
        entry = self._live[(spec.stream, spec.key)] = self._create(spec)
        self._created_here.add(spec.key)
        save(exports, spec, entry, checkpoint)
        return entry

    def run(self, spec: ExportSpec, exports: MutableMapping[str, Any],
            checkpoint: Checkpoint) -> Iterator[dict[str, Any]]:
        """Yield every record of `spec`'s export, resuming the one in `exports` if possible.

        `exports` is the partition state's in-flight table; `checkpoint` emits STATE. On
        return the export was read completely (the caller then moves its bookmark).
        """
        error = self.waiter.create_error(spec) if self.waiter else None
        if error is not None:
            raise error
        entry = self.ensure_created(spec, exports, checkpoint)
        #: Exported by an earlier run: if it fails for good now, a new export is created.
        resumed = spec.key not in self._created_here
        recreated = 0
        while True:
            LOGGER.info("%s: reading export %s (created %s, %d part(s) already read)",
                        spec.label, entry.export_id, entry.created_at, len(entry.parts_done))
            try:
                parts = self.waiter.wait(spec, entry) if self.waiter else None
                if parts is None:
                    parts = self._wait(spec, entry)
                yield from self._read(spec, entry, parts, exports, checkpoint)
                return
            except RecreateExport as exc:
                problem = str(exc)
            except ExportTimeoutError:
                raise  # not failed, only slow: it stays in state and the next run resumes it
            except TapProfileExportError as exc:
                if not resumed:
                    raise
                problem = f"export {entry.export_id} resumed from state failed ({exc})"
            # A failed export never stays in state: the next run must not resume it.
            exports.pop(spec.key, None)
            checkpoint()
            resumed = False
            recreated += 1
            if recreated > self.max_recreates:
                raise ExportFailedError(
                    f"{spec.label}: {problem} — gave up after creating {recreated} exports; "
                    f"dropped from state, the next run creates a new one") from None
            LOGGER.warning("%s: %s; creating a new export (%d/%d)", spec.label, problem,
                           recreated, self.max_recreates)
            entry = self.ensure_created(spec, exports, checkpoint)

    def _create(self, spec: ExportSpec) -> InFlightExport:
        created_at = to_rfc3339(utc_now())
        entry = InFlightExport.new(spec, self.adapter.create(spec), created_at)
        LOGGER.info("%s: created export %s", spec.label, entry.export_id)
        return entry

    def _wait(self, spec: ExportSpec, entry: InFlightExport) -> list[ExportPart]:
        started = self._clock()
        interval = self.poll.initial_interval
        throttle = Throttle()
        last_status = None
        checks = 0
        while True:
            readiness = self.adapter.check(spec, entry)
            checks += 1
            waited = self._clock() - started
            if readiness.ready:
                LOGGER.info("%s: export %s ready after %.1fs (%d checks), %d part(s)",
                            spec.label, entry.export_id, waited, checks, len(readiness.parts))
                entry.waited_seconds = round(entry.waited_seconds + waited, 1)
                return readiness.parts
            if waited >= self.poll.timeout:
                raise timeout_error(spec, entry, waited, self.poll.timeout, readiness.status)
            if readiness.status != last_status or throttle.ready():
                LOGGER.info("%s: export %s status %s, waited %.0fs, next check in %.1fs",
                            spec.label, entry.export_id, readiness.status, waited,
                            min(interval, self.poll.timeout - waited))
                last_status = readiness.status
            self._sleep(max(0.0, min(interval, self.poll.timeout - waited)))
            interval = min(max(interval * 2, 0.001), self.poll.max_interval)

    def _read(self, spec: ExportSpec, entry: InFlightExport, parts: list[ExportPart],
              exports: MutableMapping[str, Any],
              checkpoint: Checkpoint) -> Iterator[dict[str, Any]]:
        done = entry.parts_done
        progress = ReadProgress(f"{spec.label} {entry.export_id}")
        for part in parts:
            if part.key in done:
                LOGGER.info("%s: skipping %s, already read by an earlier run", spec.label,
                            part.label)
                progress.parts_done += 1
                continue
            yield from self._read_part(spec, entry, part, progress, len(parts))
            done.append(part.key)
            progress.parts_done += 1
            save(exports, spec, entry, checkpoint)
        LOGGER.info("%s: export %s read: %d part(s), %d records, %s, %.0f records/s",
                    spec.label, entry.export_id, len(parts), progress.records,
                    human_bytes(progress.bytes_done), progress.rate())
        self.summaries.append(ExportSummary(
            spec.label, entry.export_id, entry.waited_seconds, progress.bytes_done,
            progress.records, time.monotonic() - progress.started))

    def _read_part(self, spec: ExportSpec, entry: InFlightExport, part: ExportPart,
                   progress: ReadProgress, parts_total: int) -> Iterator[dict[str, Any]]:
        source = f"{spec.label} {entry.export_id} {part.label}"
        emitted = 0
        for attempt in range(1, self.max_part_attempts + 1):
            seen = 0
            counter: CountingReader | None = None
            try:
                with self.adapter.open_part(spec, entry, part) as raw:
                    counter = CountingReader(raw)
                    stream = cast(IO[bytes], counter)
                    for record in self.adapter.read_part(spec, entry, stream, source):
                        seen += 1
                        if seen <= emitted:
                            continue  # already yielded before the download was interrupted
                        emitted += 1
                        progress.records += 1
                        if not progress.records & 0x3FF:
                            progress.tick(part.label, counter.bytes_read, part.size, parts_total)
                        yield record
                    if part.expected_bytes is not None:
                        _check_complete(counter, part.expected_bytes)
                progress.bytes_done += counter.bytes_read
                return
            except RETRIED_PART_ERRORS as exc:
                at = counter.bytes_read if counter else 0
                reason = f"{type(exc).__name__}: {REDACTOR(str(exc))[:160]}"
                if attempt >= self.max_part_attempts:
                    raise VendorHTTPError(
                        f"{source}: download failed {attempt} times, last at byte {at} "
                        f"({reason})") from None
                delay = self.retry.delay(attempt)
                LOGGER.warning("%s: download interrupted at byte %d (%s); reopening in %.1fs, "
                               "attempt %d/%d", source, at, reason, delay, attempt + 1,
                               self.max_part_attempts)
                self._sleep(delay)


def _check_complete(counter: CountingReader, expected: int) -> None:
    """Read to the end (a reader may stop at a closing bracket) and compare with `expected`."""
    while counter.read(1 << 16):
        pass
    if counter.bytes_read != expected:
        raise IncompletePartError(f"the part ended after {counter.bytes_read} of the {expected} "
                                  f"bytes the vendor stated")


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

