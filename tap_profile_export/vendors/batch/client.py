"""Batch.com: Profile API export (`POST /2.4/profiles/export`) + Project Export API.

Create → `GET /2.4/exports/view` until SUCCESS → per file part (in `part` order)
`GET /2.4/exports/download` answers 307 to a pre-signed link, fetched by hand without the
Batch headers; an expired link (403) is replaced by asking the download endpoint again.
Files are NDJSON (or a JSON array), gzip or plain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import IO, Any
from urllib.parse import urljoin

from tap_profile_export.errors import ExportFailedError, ReaderError
from tap_profile_export.exports import (
    ExportCheck,
    ExportPart,
    ExportSpec,
    ExportStatus,
    InFlightExport,
    vendor_time,
)
from tap_profile_export.http import HttpClient, require_secure_download
from tap_profile_export.readers import iter_records
from tap_profile_export.vendors.batch.records import MAPPERS
from tap_profile_export.vendors.batch.settings import BatchSettings
from tap_profile_export.windows import parse_rfc3339, to_rfc3339, utc_now

LOGGER = logging.getLogger("tap_profile_export.batch")
API_VERSION = "2.4"
LOOKBACK = timedelta(days=90)
LOOKBACK_MARGIN = timedelta(hours=1)
#: A start planned at the earliest moment a few minutes before the request is just moved.
PLANNING_DRIFT = timedelta(minutes=5)
REACHABILITY_FLOOR = datetime(2024, 10, 10, tzinfo=timezone.utc)
REDIRECTS = (301, 302, 303, 307, 308)
MAX_LINK_REFRESHES = 3
KINDS = {"profiles": "attributes", "events": "events", "reachability_events": "reachability"}
EXPORT_TYPES = {"attributes": "ATTRIBUTES", "events": "EVENTS", "reachability": "REACHABILITY"}
#: Batch export statuses (`exports/view`); any other is still being prepared.
STATUSES = {"SUCCESS": ExportStatus.READY, "ERROR": ExportStatus.FAILED,
            "PENDING": ExportStatus.PENDING}


class BatchAdapter:
    """The Batch steps of the export lifecycle."""

    vendor = "batch"
    #: The request keys of an event window (a window whose export keeps failing is split).
    window_fields = ("from", "to")
    #: What to configure smaller when the attributes export keeps failing.
    size_hint = ("fewer batch.attributes or batch.identifiers, or a batch.segment "
                 "(an attributes export is a snapshot: it cannot be split by time)")

    def __init__(self, settings: BatchSettings, http: HttpClient, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.http = http
        self._base = f"{settings.api_url}/{API_VERSION}"
        self._clock = clock

    def create(self, spec: ExportSpec) -> dict[str, Any]:
        """POST the export request; the handle is the export id.

        Event windows are clamped to the lookback here, when the request is sent (the first
        time and on every re-creation): a `from` that was fine when planned can be older than
        90 days an hour later, and Batch refuses it.
        """
        body = dict(spec.request)
        if "from" in body:
            start = clamp_start(spec.kind, parse_rfc3339(body["from"]), self._clock())
            end = parse_rfc3339(body["to"])
            if start >= end:
                LOGGER.warning("batch %s: the window %s → %s is entirely before what Batch "
                               "still serves; nothing to export for it", spec.kind,
                               body["from"], body["to"])
                return {"export_id": "(nothing to export)", "empty": True}
            body["from"] = to_rfc3339(start)
        response = self.http.request("POST", f"{self._base}/profiles/export",
                                     what=f"create {spec.kind} export", json=body)
        export_id = _json(response, spec.label).get("id")
        if not isinstance(export_id, str) or not export_id:
            raise ExportFailedError(f"{spec.label}: Batch answered without an export id")
        return {"export_id": export_id, "vendor_created_at": vendor_time(response)}

    def check(self, spec: ExportSpec, entry: InFlightExport) -> ExportCheck:
        """One `exports/view` call."""
        if entry.handle.get("empty"):
            return ExportCheck(ExportStatus.READY, "EMPTY", [])
        export_id = entry.export_id
        response = self.http.request("GET", f"{self._base}/exports/view",
                                     what=f"export {export_id} status", params={"id": export_id},
                                     accept=(404,))
        if response.status_code == 404:
            return ExportCheck(ExportStatus.GONE,
                               f"Batch no longer knows export {export_id} (HTTP 404)")
        body = _json(response, spec.label)
        status = str(body.get("status") or "UNKNOWN").upper()
        mapped = STATUSES.get(status, ExportStatus.RUNNING)
        if mapped is ExportStatus.FAILED:
            return ExportCheck(mapped, f"Batch reports export {export_id} failed (status {status})")
        if mapped is not ExportStatus.READY:
            return ExportCheck(mapped, status)
        files = sorted(body.get("files") or [], key=lambda f: int(f.get("part") or 0))
        total = len(files)
        parts = [ExportPart(key=str(f["id"]), label=f"part {f.get('part')}/{total} ({f['id']})",
                            size=f.get("size"), expected_bytes=_size(f.get("size")), ref=f)
                 for f in files]
        return ExportCheck(ExportStatus.READY, status, parts)

    @contextmanager
    def open_part(self, spec: ExportSpec, entry: InFlightExport,
                  part: ExportPart) -> Iterator[IO[bytes]]:
        """Resolve the 307 link and stream the file from the storage host, without credentials."""
        what = f"export {entry.export_id} {part.label} download"
        for _ in range(MAX_LINK_REFRESHES + 1):
            link = self.http.request("GET", f"{self._base}/exports/download", what=what + " link",
                                     params={"id": part.key}, accept=REDIRECTS, stream=True)
            if link.status_code not in REDIRECTS:  # served directly: be lenient
                yield _raw(link)
                return
            location = link.headers.get("Location")
            link.close()
            if not location:
                raise ExportFailedError(f"{spec.label}: {what}: 307 without a Location header")
            url = require_secure_download(urljoin(link.url, location), f"batch {what}")
            download = self.http.request("GET", url, what=what, authenticated=False,
                                         accept=(403,), stream=True)
            if download.status_code == 403:
                download.close()
                LOGGER.info("%s: %s: download link refused (expired); asking for a fresh one",
                            spec.label, part.label)
                continue
            try:
                yield _raw(download)
            finally:
                download.close()
            return
        raise ExportFailedError(f"{spec.label}: {what}: {MAX_LINK_REFRESHES + 1} fresh download "
                                f"links in a row were refused (HTTP 403)")

    def read_part(self, spec: ExportSpec, entry: InFlightExport, stream: IO[bytes],
                  source: str) -> Iterator[dict[str, Any]]:
        """Parse the file and map each line to a record of `spec.stream`."""
        mapper = MAPPERS[spec.stream]
        exported_at = entry.created_at
        for line_no, row in enumerate(iter_records(stream, source), 1):
            try:
                yield mapper(row, exported_at)
            except (KeyError, TypeError, AttributeError) as exc:
                raise ReaderError(source, f"unexpected record shape ({type(exc).__name__}: "
                                          f"{exc})", line=line_no) from None

    def resume_problem(self, spec: ExportSpec, entry: InFlightExport) -> str | None:
        """Batch exports stay viewable; `check` answers 404 if one is gone."""
        return None



def earliest_start(kind: str, now: datetime) -> datetime:
    """The oldest `from` Batch accepts at `now`: 90 days back (+1 hour margin), and never
    before 2024-10-10 for reachability."""
    earliest = now - LOOKBACK + LOOKBACK_MARGIN
    if kind == "reachability":
        earliest = max(earliest, REACHABILITY_FLOOR)
    return earliest


def clamp_start(kind: str, wanted: datetime, now: datetime) -> datetime:
    """`wanted`, or the earliest `from` Batch accepts at `now` (with a warning saying what is
    skipped)."""
    earliest = earliest_start(kind, now)
    if wanted >= earliest:
        return wanted
    if earliest - wanted < PLANNING_DRIFT:  # planned at the earliest moments ago: no news
        LOGGER.info("batch %s: from moved %s → %s to stay inside the 90-day lookback", kind,
                    to_rfc3339(wanted), to_rfc3339(earliest))
        return earliest
    LOGGER.warning("batch %s: %s is before what Batch still serves (90-day lookback%s); "
                   "skipping %s → %s, which can no longer be exported",
                   kind, to_rfc3339(wanted),
                   ", none before 2024-10-10" if kind == "reachability" else "",
                   to_rfc3339(wanted), to_rfc3339(earliest))
    return earliest


def _size(value: Any) -> int | None:
    """A file size Batch states (bytes), if it is a usable number."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _json(response: Any, label: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ExportFailedError(f"{label}: Batch answered HTTP {response.status_code} with a "
                                f"body that is not JSON") from None
    if not isinstance(body, dict):
        raise ExportFailedError(f"{label}: Batch answered with unexpected JSON")
    return body


def _raw(response: Any) -> IO[bytes]:
    raw = response.raw
    raw.decode_content = False  # gzip is detected by magic bytes, not by headers
    return raw
