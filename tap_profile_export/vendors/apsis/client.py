"""APSIS One: "profile in segment event export" with OAuth client credentials.

Token `POST /oauth/token` (cached until shortly before the JWT `exp`, refreshed once on 401,
at most 10 token requests a minute) → `POST /audience/profiles/exports` → GET the poll URL:
404 = not ready, 200 = the body is the export (one JSON document, gzip when asked), 410/503 =
create a new export. Event exports are paced by `apsis.min_seconds_between_exports`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import IO, Any, cast
from urllib.parse import urljoin, urlsplit

import requests

from tap_profile_export.errors import ExportFailedError, ReaderError, TapProfileExportError
from tap_profile_export.exports import (
    ExportCheck,
    ExportPart,
    ExportSpec,
    ExportStatus,
    InFlightExport,
    RecreateExport,
    vendor_time,
)
from tap_profile_export.http import HttpClient
from tap_profile_export.readers import iter_object_items
from tap_profile_export.redact import safe_url
from tap_profile_export.vendors.apsis.records import map_events, map_profile
from tap_profile_export.vendors.apsis.settings import ApsisSettings
from tap_profile_export.windows import parse_rfc3339, utc_now

LOGGER = logging.getLogger("tap_profile_export.apsis")
POLL_URL_FIELDS = ("poll_url", "file_download_url_v2", "file_download_url", "url")
POLL_URL_LIFETIME = timedelta(days=1)
POLL_URL_MARGIN = timedelta(hours=1)

#: Answers of the poll URL: 404 not ready yet, 200 the export itself, 410 gone or invalid,
#: 503 processing failed.
STATUSES = {404: ExportStatus.PENDING, 200: ExportStatus.READY, 410: ExportStatus.GONE,
            503: ExportStatus.FAILED}



class ApsisAdapter:
    """The APSIS steps of the export lifecycle."""

    vendor = "apsis"
    #: The request keys of an event window (a window whose export keeps failing is split:
    #: APSIS "retry the export request aiming at a smaller data subset").
    window_fields = ("start_at", "end_at")
    #: What to configure smaller when the profiles export keeps failing.
    size_hint = ("fewer apsis.attributes or apsis.tags, or an apsis.segment_filter "
                 "(the profiles export is a snapshot: it cannot be split by time)")

    def __init__(self, settings: ApsisSettings, http: HttpClient, *,
                 clock: Any = time.monotonic, sleep: Any = time.sleep) -> None:
        self.settings = settings
        self.http = http
        self._clock = clock
        self._sleep = sleep
        self._last_event_export: float | None = None
        self._ready: dict[str, requests.Response] = {}
        #: ids of events read at/after the end of the previous window (boundary dedupe)
        self._boundary_ids: set[str] = set()

    def create(self, spec: ExportSpec) -> dict[str, Any]:
        """POST the export request (event exports paced); the handle is the poll URL."""
        if spec.kind == "events":
            self._pace_event_exports()
        response = self.http.request("POST", f"{self.settings.api_url}/audience/profiles/exports",
                                     what=f"create {spec.kind} export", json=spec.request,
                                     max_attempts=10)
        if spec.kind == "events":
            self._last_event_export = self._clock()
        poll_url = _poll_url(response)
        if not poll_url:
            raise ExportFailedError(f"{spec.label}: APSIS answered HTTP {response.status_code} "
                                    f"without a poll URL ({', '.join(POLL_URL_FIELDS)} or "
                                    f"Location)")
        poll_url = urljoin(self.settings.api_url + "/", poll_url)
        if not self.http.is_api_url(poll_url):
            raise TapProfileExportError(
                f"{spec.label}: poll URL {safe_url(poll_url)} is not on the configured API origin "
                f"({self.settings.api_url}); refusing to send the APSIS token there")
        return {"export_id": _export_id(response, poll_url), "poll_url": poll_url,
                "vendor_created_at": vendor_time(response)}

    def _pace_event_exports(self) -> None:
        if self._last_event_export is None:
            return
        wait = self.settings.min_seconds_between_exports - (self._clock()
                                                            - self._last_event_export)
        if wait > 0:
            LOGGER.info("apsis: pacing event exports (apsis.min_seconds_between_exports=%g); "
                        "waiting %.1fs", self.settings.min_seconds_between_exports, wait)
            self._sleep(wait)

    def check(self, spec: ExportSpec, entry: InFlightExport) -> ExportCheck:
        """GET the poll URL: 404 not ready, 200 ready (the response is kept for reading)."""
        response = self._get(entry, what=f"poll export {entry.export_id}")
        status = STATUSES.get(response.status_code, ExportStatus.READY)
        if status is ExportStatus.PENDING:
            response.close()
            return ExportCheck(status, "NOT_READY (404)")
        if status in (ExportStatus.GONE, ExportStatus.FAILED):
            response.close()
            problem = "gone or invalid (HTTP 410)" if status is ExportStatus.GONE else \
                "processing failed (HTTP 503)"
            return ExportCheck(status, f"APSIS export {entry.export_id}: {problem}")
        self._ready[entry.handle["poll_url"]] = response
        size = response.headers.get("Content-Length")
        return ExportCheck(status, "READY", [ExportPart(key="file", label="file",
                                                        size=int(size) if size else None)])

    def _get(self, entry: InFlightExport, what: str) -> requests.Response:
        handle = entry.handle
        if not self.http.is_api_url(handle["poll_url"]):
            raise TapProfileExportError(f"apsis {what}: poll URL {safe_url(handle['poll_url'])} "
                                        f"is not on the configured API origin")
        return self.http.request("GET", handle["poll_url"], what=what, accept=(404, 410, 503),
                                 headers={"Accept-Encoding": "gzip"}, stream=True)

    @contextmanager
    def open_part(self, spec: ExportSpec, entry: InFlightExport,
                  part: ExportPart) -> Iterator[IO[bytes]]:
        """The body of the 200 poll answer (fetched again when it was already consumed)."""
        response = self._ready.pop(entry.handle["poll_url"], None)
        if response is None:
            response = self._get(entry, what=f"download export {entry.export_id}")
            if response.status_code != 200:
                response.close()
                raise RecreateExport(f"APSIS export {entry.export_id}: download answered "
                                     f"HTTP {response.status_code}")
        try:
            raw = response.raw
            raw.decode_content = False  # gzip is sniffed and decoded by the reader
            yield cast(IO[bytes], raw)
        finally:
            response.close()

    def read_part(self, spec: ExportSpec, entry: InFlightExport, stream: IO[bytes],
                  source: str) -> Iterator[dict[str, Any]]:
        """Stream the profiles dictionary; yield profile or event records."""
        exported_at = entry.created_at
        tags = frozenset(self.settings.tags)
        window_end = spec.window[1] if spec.window else None
        skip, boundary = self._boundary_ids, set()
        count = 0
        for count, (profile_key, profile) in enumerate(
                iter_object_items(stream, source, wrapped_under="profiles"), 1):
            try:
                if spec.kind == "profiles":
                    yield map_profile(profile_key, profile, tags, exported_at)
                    continue
                for record in map_events(profile_key, profile):
                    if record["event_id"] in skip:
                        continue
                    if window_end and parse_rfc3339(record["timestamp"]) >= window_end:
                        boundary.add(record["event_id"])
                    yield record
            except (AttributeError, TypeError, ValueError, KeyError) as exc:
                raise ReaderError(source, f"profile {count} ({profile_key!r}) has an unexpected "
                                          f"shape ({type(exc).__name__}: {exc})") from None
        if spec.kind == "events":
            self._boundary_ids = boundary

    def resume_problem(self, spec: ExportSpec, entry: InFlightExport) -> str | None:
        """Poll URLs live one day; older ones are not worth polling."""
        created = parse_rfc3339(entry.created_at)
        if utc_now() - created > POLL_URL_LIFETIME - POLL_URL_MARGIN:
            return "its poll URL is older than APSIS keeps it (1 day)"
        return None


def _export_id(response: requests.Response, poll_url: str) -> str:
    """The export's id from the answer, else the last meaningful segment of the poll URL."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if isinstance(body, Mapping) and isinstance(body.get("id"), (str, int)):
        return str(body["id"])
    segments = [s for s in urlsplit(poll_url).path.split("/") if s]
    while segments and segments[-1] in ("file", "download", "content"):
        segments.pop()
    return segments[-1] if segments else "?"


def _poll_url(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if isinstance(body, Mapping):
        for key in POLL_URL_FIELDS:
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])
    return response.headers.get("Location")
