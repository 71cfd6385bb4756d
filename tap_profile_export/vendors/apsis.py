"""APSIS One: "profile in segment event export" with OAuth client credentials.

Token `POST /oauth/token` (cached until shortly before the JWT `exp`, refreshed once on 401,
at most 10 token requests a minute) → `POST /audience/profiles/exports` → GET the poll URL:
404 = not ready, 200 = the body is the export (one JSON document, gzip when asked), 410/503 =
create a new export. Event exports are paced by `apsis.min_seconds_between_exports`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import IO, Any, cast
from urllib.parse import urljoin, urlsplit

import requests

from tap_profile_export.errors import ExportFailedError, ReaderError, TapProfileExportError
from tap_profile_export.exports import (
    ExportCheck,
    ExportPart,
    ExportRunner,
    ExportSpec,
    ExportStatus,
    InFlightExport,
    RecreateExport,
    vendor_time,
)
from tap_profile_export.http import HttpClient
from tap_profile_export.readers import iter_object_items
from tap_profile_export.redact import REDACTOR, safe_url
from tap_profile_export.settings import APSIS_MAX_WINDOW_DAYS, ApsisSettings, TapSettings
from tap_profile_export.vendors.base import events_start, inflight_windows
from tap_profile_export.windows import parse_rfc3339, split_windows, to_rfc3339

LOGGER = logging.getLogger("tap_profile_export.apsis")
POLL_URL_FIELDS = ("poll_url", "file_download_url_v2", "file_download_url", "url")
POLL_URL_LIFETIME = timedelta(days=1)
POLL_URL_MARGIN = timedelta(hours=1)
TOKEN_EARLY_REFRESH_SECONDS = 120.0
TOKEN_REQUESTS_PER_MINUTE = 10
#: Answers of the poll URL: 404 not ready yet, 200 the export itself, 410 gone or invalid,
#: 503 processing failed.
STATUSES = {404: ExportStatus.PENDING, 200: ExportStatus.READY, 410: ExportStatus.GONE,
            503: ExportStatus.FAILED}


class TokenProvider:
    """OAuth client-credentials tokens, cached until shortly before the JWT `exp`."""

    def __init__(self, settings: ApsisSettings, http: HttpClient,
                 clock: Any = time.time, sleep: Any = time.sleep) -> None:
        self.settings = settings
        self.http = http
        self._clock = clock
        self._sleep = sleep
        self._token: str | None = None
        self._expires_at = 0.0
        self._requests: deque[float] = deque(maxlen=TOKEN_REQUESTS_PER_MINUTE)
        self._lock = threading.Lock()

    def headers(self) -> dict[str, str]:
        """`Authorization` header with a valid token."""
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                self._fetch()
            return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> bool:
        """Forget the token after a 401; the next call fetches a new one."""
        with self._lock:
            self._token = None
        LOGGER.info("apsis: access token refused (HTTP 401); requesting a new one")
        return True

    def _fetch(self) -> None:
        if len(self._requests) == TOKEN_REQUESTS_PER_MINUTE:
            wait = self._requests[0] + 60.0 - self._clock()
            if wait > 0:
                LOGGER.info("apsis: token endpoint allows %d requests/minute; waiting %.1fs",
                            TOKEN_REQUESTS_PER_MINUTE, wait)
                self._sleep(wait)
        self._requests.append(self._clock())
        response = self.http.request(
            "POST", f"{self.settings.api_url}/oauth/token", what="token request",
            authenticated=False,
            json={"grant_type": "client_credentials", "client_id": self.settings.client_id,
                  "client_secret": self.settings.client_secret})
        try:
            body = response.json()
            token = body["access_token"]
        except (ValueError, KeyError, TypeError):
            raise TapProfileExportError("apsis token request: the answer has no access_token "
                                        "(check apsis.client_id / apsis.client_secret)") from None
        REDACTOR.add(token)
        now = self._clock()
        expires_at = _jwt_exp(token) or now + float(body.get("expires_in") or 3600)
        self._token = token
        self._expires_at = max(now, expires_at - min(TOKEN_EARLY_REFRESH_SECONDS,
                                                     (expires_at - now) / 10))


def _jwt_exp(token: str) -> float | None:
    """The `exp` claim of a JWT (not verified: we only need to know when to refresh)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


class ApsisAdapter:
    """The APSIS steps of the export lifecycle."""

    vendor = "apsis"

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
        if datetime.now(timezone.utc) - created > POLL_URL_LIFETIME - POLL_URL_MARGIN:
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


# --- mappers: APSIS profile → records of CONTRACT.md section 5 ---------------------------------


def _ms_to_rfc3339(ms: float) -> str:
    value = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def map_profile(profile_key: str, profile: Mapping[str, Any], tag_ids: frozenset[str],
                exported_at: str) -> dict[str, Any]:
    """One `profiles` record: attributes (tags excluded), tags, per-section structure."""
    attributes: dict[str, Any] = {}
    tags: set[str] = set()
    sections: dict[str, Any] = {}
    for section_id, section in (profile.get("sections") or {}).items():
        section_attributes: dict[str, Any] = {}
        section_tags: list[str] = []
        for attribute_id, holder in (section.get("attributes") or {}).items():
            if attribute_id in tag_ids:
                section_tags.append(attribute_id)
                continue
            value = holder.get("value") if isinstance(holder, Mapping) else holder
            section_attributes[attribute_id] = value
        attributes.update(section_attributes)
        tags.update(section_tags)
        sections[section_id] = {"attributes": section_attributes, "tags": sorted(section_tags)}
    return {"source": "apsis", "profile_id": profile_key, "custom_id": None,
            "identifiers": None, "attributes": attributes, "tags": sorted(tags),
            "sections": sections, "exported_at": exported_at}


def event_id(profile_key: str, section_id: str, event: Mapping[str, Any]) -> str:
    """Stable digest of profile, section, type, correlation id and source time (+ createdAt
    when the source time is unknown)."""
    parts = [profile_key, section_id, str(event.get("typeId")), str(event.get("correlationId")),
             str(event.get("sourceEventTime") or 0)]
    if not event.get("sourceEventTime"):
        parts.append(str(event.get("createdAt")))
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def map_events(profile_key: str, profile: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """One `events` record per event of every section of the profile."""
    for section_id, section in (profile.get("sections") or {}).items():
        for event in section.get("events") or ():
            source_time = event.get("sourceEventTime") or 0
            created = event.get("createdAt")
            yield {"source": "apsis", "event_id": event_id(profile_key, section_id, event),
                   "profile_id": profile_key, "custom_id": None, "name": event.get("typeId"),
                   "timestamp": _ms_to_rfc3339(source_time or created),
                   "created_at": _ms_to_rfc3339(created) if created else None,
                   "section_id": section_id, "correlation_id": event.get("correlationId"),
                   "attributes": None, "data": event.get("data"), "identifiers": None,
                   "extra": None}


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

    def partitions(self, stream: str) -> list[dict[str, Any]]:
        """`profiles` always; `events` only when event types are configured."""
        if stream == "profiles" or (stream == "events" and self.settings.events):
            return [{"source": "apsis"}]
        return []

    def plan(self, stream: str, context: Mapping[str, Any], bookmark: datetime | None,
             exports: Mapping[str, Any]) -> list[ExportSpec]:
        """The profiles snapshot, or one export per event window."""
        body: dict[str, Any] = {"attributes": list(self.settings.attributes),
                                "tags": list(self.settings.tags)}
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
                           request={**body, "events": list(self.settings.events),
                                    "start_at": to_rfc3339(w[0]), "end_at": to_rfc3339(w[1])})
                for w in windows]

    def close(self) -> None:
        """Close HTTP sessions."""
        self.adapter.http.close()
        self.tokens.http.close()
