"""APSIS One emulation: OAuth client credentials, profile-in-segment event export, poll URL
(404 until ready, 200 streams the JSON document, 410 gone, 503 failed) — CONTRACT.md §3."""

from __future__ import annotations

import base64
import gzip
import itertools
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.apsis_definitions import (
    ATTRIBUTE_DEFS,
    EVENT_DEFS,
    PAGING,
    SECTION_NAMES,
    TAG_DEFS,
    DefinitionRoutes,
)
from sandbox.core import ReadinessScenario, Request, Response, Route
from sandbox.data import arrival_delay, dumps, parse_rfc3339

if TYPE_CHECKING:
    from sandbox.core import Sandbox

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-client-secret"
SECTIONS = tuple(SECTION_NAMES)
EVENT_TYPES = tuple(EVENT_DEFS)
ATTRIBUTES = tuple(ATTRIBUTE_DEFS)
TAGS = tuple(TAG_DEFS)


@dataclass
class ApsisScenario(ReadinessScenario):
    """Data sizes, timing and faults of the APSIS emulation (tests change these)."""

    profiles: int = 60
    events_per_profile: int = 4
    history_days: float = 30
    layout: str = "bare"  # or "wrapped": {"metadata": …, "profiles": {…}}
    gzip: bool = True
    poll_url_field: str = "poll_url"  # or file_download_url_v2 / file_download_url / url / Location
    poll_url_origin: str | None = None  # e.g. another origin, which the tap must refuse
    token_ttl_seconds: float = 3600
    min_seconds_between_event_exports: float = 0
    max_pending: int = 20
    gone_once: bool = False
    failed_once: bool = False
    truncate_body: bool = False
    invalid_json: bool = False
    deleted: list[int] = field(default_factory=list)  # profile numbers erased at the vendor
    late_minutes: float = 0  # events arrive up to this late (see data.arrival_delay)
    #: An event export of more events than this fails (its poll answers 503: "you may receive
    #: a status of error … retry the export request aiming at a smaller data subset").
    max_events_per_export: int = 0
    # Definitions (sandbox.apsis_definitions): items per page, how a page links the next one
    # (PAGING), discriminators deleted at the vendor, kinds the API key may not read (403).
    definitions_page_size: int = 2
    definitions_paging: str = "links"
    deleted_definitions: list[str] = field(default_factory=list)
    forbidden_definitions: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.definitions_paging not in PAGING:
            raise ValueError(f"definitions_paging must be one of {PAGING}")


@dataclass
class _Export:
    id: str
    request: dict[str, Any]
    created: float
    polls: int = 0
    path: Path | None = None
    served: bool = False
    as_of: datetime | None = None  # the sandbox clock at creation (None: real time)


@dataclass
class _Tokens:
    issued: dict[str, float] = field(default_factory=dict)


class ApsisSim:
    """Routes and state of the APSIS emulation."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.scenario = ApsisScenario()
        self._exports: dict[str, _Export] = {}
        self._tokens = _Tokens()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._last_event_export = 0.0
        self._gone_done = self._failed_done = False
        self.definitions = DefinitionRoutes(self)

    def reset(self) -> None:
        """Back to defaults."""
        self.scenario = ApsisScenario()
        self._exports.clear()
        self._tokens = _Tokens()
        self._gone_done = self._failed_done = False

    def tap_config(self) -> dict[str, Any]:
        """The `apsis` block of a tap config for this sandbox."""
        return {"api_url": self.sandbox.api_url, "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET, "attributes": list(ATTRIBUTES[:3]),
                "tags": list(TAGS), "events": list(EVENT_TYPES), "window_days": 7,
                "min_seconds_between_exports": 0}

    def routes(self) -> list[Route]:
        """API routes (the poll URL lives on the API origin)."""
        return [
            Route("api", "POST", "/oauth/token", "apsis", "token", self._token),
            Route("api", "POST", "/audience/profiles/exports", "apsis", "create", self._create),
            Route("api", "GET", "/audience/profiles/exports/", "apsis", "status", self._poll,
                  prefix=True),
            *self.definitions.routes(),
        ]

    # -- data ------------------------------------------------------------------------------

    def _event_time(self, n: int, k: int) -> datetime:
        s = self.scenario
        origin = self.sandbox.anchor - timedelta(days=s.history_days)
        total = max(s.profiles * s.events_per_profile, 1)
        return origin + timedelta(days=s.history_days) * ((k * s.profiles + n) / total)

    def profile(self, n: int, body: dict[str, Any], window: tuple[datetime, datetime] | None,
                as_of: datetime | None = None) -> dict[str, Any]:
        """Profile `n` as the export with `body` shows it (events arrived by `as_of`)."""
        attributes = body.get("attributes") or []
        tags = body.get("tags") or []
        event_types = body.get("events") or []
        sections: dict[str, Any] = {}
        for index, section in enumerate(SECTIONS):
            attrs: dict[str, Any] = {}
            for attribute in attributes:
                if (n + index) % 5 == 0 and attribute == "attr.city":
                    continue
                attrs[attribute] = {"value": _value(attribute, n, index)}
            for tag in tags:
                if (n + index + len(tag)) % 3 == 0:
                    attrs[tag] = {"value": None}
            entry: dict[str, Any] = {"attributes": attrs}
            if window is not None:
                entry["events"] = [e for e in self._events(n, index)
                                   if e["typeId"] in event_types
                                   and window[0] <= _event_instant(e) < window[1]
                                   and (as_of is None or self._arrival(n, e) <= as_of)]
            sections[section] = entry
        return {"sections": sections}

    def _events(self, n: int, section_index: int) -> Iterator[dict[str, Any]]:
        for k in range(self.scenario.events_per_profile):
            if k % len(SECTIONS) != section_index:
                continue
            at = self._event_time(n, k)
            ms = int(at.timestamp() * 1000)
            event: dict[str, Any] = {"correlationId": f"corr-{n}-{k}", "sourceEventTime": ms,
                     "typeId": EVENT_TYPES[(n + k) % len(EVENT_TYPES)], "createdAt": ms + 1500,
                     "data": {"n": n, "k": k, "amount": (n * k) % 50 + 0.25}}
            if (n + k) % 7 == 3:
                event["sourceEventTime"] = 0
                event["createdAt"] = ms
            yield event
            if (n + k) % 11 == 5:  # the same event sent again (retry), later source time
                yield {**event, "sourceEventTime": (event["sourceEventTime"] or ms) + 1000,
                       "createdAt": ms + 2500}

    def _arrival(self, n: int, event: dict[str, Any]) -> datetime:
        # Relative to the anchor, so the same events arrive late whatever day the anchor is.
        created = event["createdAt"] - int(self.sandbox.anchor.timestamp() * 1000)
        key = f"{n}:{event['correlationId']}:{created}"
        return _event_instant(event) + arrival_delay(self.sandbox.seed, key,
                                                     self.scenario.late_minutes)

    def expected_profiles(self, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Profile key → profile of an attributes-and-tags export with `body`."""
        return {_key(n): self.profile(n, body, None) for n in range(self.scenario.profiles)
                if n not in self.scenario.deleted}

    def expected_events(self, body: dict[str, Any], start: datetime, end: datetime,
                        as_of: datetime | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """(profile key, section id, event) of an event export of `[start, end)`."""
        found = []
        for n in range(self.scenario.profiles):
            for section, entry in self.profile(n, body, (start, end), as_of)["sections"].items():
                found += [(_key(n), section, e) for e in entry.get("events", [])]
        return found

    def _write(self, export: _Export) -> Path:
        body = export.request
        window = None
        if body.get("events"):
            window = _window(body)
        path = self.sandbox.cache_dir / f"apsis-{export.id}.json"
        s = self.scenario
        with path.open("wb") as out:
            if s.layout == "wrapped":
                out.write(b'{"metadata": ' + dumps({"sections": {k: {} for k in SECTIONS}})
                          + b', "profiles": ')
            out.write(b"{")
            for index, n in enumerate(n for n in range(s.profiles) if n not in s.deleted):
                if index:
                    out.write(b",\n")
                if s.invalid_json and n == s.profiles // 2:
                    out.write(b'"broken": {"sections": ]},\n')
                out.write(dumps(_key(n)) + b": " + dumps(self.profile(n, body, window,
                                                                      export.as_of)))
            out.write(b"}")
            if s.layout == "wrapped":
                out.write(b"}")
        return path

    # -- handlers --------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        body = request.json() or {}
        if (body.get("grant_type") != "client_credentials" or body.get("client_id") != CLIENT_ID
                or body.get("client_secret") != CLIENT_SECRET):
            return _error(401, "Unauthorized", "invalid client credentials")
        expires = time.time() + self.scenario.token_ttl_seconds
        token = _jwt({"sub": CLIENT_ID, "exp": int(expires) if self.scenario.token_ttl_seconds
                      >= 5 else expires, "jti": next(self._ids)})
        self._tokens.issued[token] = expires
        return Response.json(200, {"access_token": token, "expires_in": 86400,
                                   "token_type": "Bearer"})

    def auth_error(self, request: Request) -> Response | None:
        """401 unless the request carries a token this emulation issued and still honours."""
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        expires = self._tokens.issued.get(token)
        if expires is None or expires < time.time():
            return _error(401, "Unauthorized", "invalid or expired token")
        return None

    def _create(self, request: Request) -> Response:
        denied = self.auth_error(request)
        if denied:
            return denied
        body = request.json()
        problem = _validate(body)
        if problem:
            return _error(400, "Bad Request", problem)
        s = self.scenario
        now = time.monotonic()
        with self._lock:
            pending = sum(1 for e in self._exports.values() if not e.served)
            if pending >= s.max_pending:
                return _error(429, "Too Many Requests", "too many pending exports")
            if body.get("events"):
                if now - self._last_event_export < s.min_seconds_between_event_exports:
                    return Response.json(429, {"title": "Too Many Requests", "status": 429,
                                               "detail": "1 event export per minute"})
                self._last_event_export = now
            export = _Export(f"exp-{self.sandbox.seed}-{next(self._ids):05d}", body, now,
                             as_of=self.sandbox.clock)
            self._exports[export.id] = export
        origin = s.poll_url_origin or self.sandbox.api_url
        poll_url = f"{origin}/audience/profiles/exports/{export.id}/file"
        if s.poll_url_field == "Location":
            return Response.json(202, {"id": export.id}, Location=poll_url)
        return Response.json(201, {"id": export.id, s.poll_url_field: poll_url})

    def _too_large(self, export: _Export) -> bool:
        limit = self.scenario.max_events_per_export
        body = export.request
        if not limit or not body.get("events"):
            return False
        return len(self.expected_events(body, *_window(body), as_of=export.as_of)) > limit

    def _poll(self, request: Request) -> Response:
        denied = self.auth_error(request)
        if denied:
            return denied
        export_id = request.path.removeprefix("/audience/profiles/exports/").split("/")[0]
        export = self._exports.get(export_id)
        if export is None:
            return Response.json(410, {"title": "Gone", "status": 410,
                                       "detail": "unknown or expired export"})
        s = self.scenario
        with self._lock:
            export.polls += 1
            if s.gone_once and not self._gone_done:
                self._gone_done = True
                return Response.json(410, {"title": "Gone", "status": 410, "detail": "gone"})
            if s.failed_once and not self._failed_done:
                self._failed_done = True
                return Response.json(503, {"title": "Service Unavailable", "status": 503,
                                           "detail": "export processing failed"})
            if not s.is_ready(export.polls, export.created):
                return Response.json(404, {"title": "Not Found", "status": 404,
                                           "detail": "export not ready"})
            if self._too_large(export):
                return Response.json(503, {"title": "Service Unavailable", "status": 503,
                                           "detail": "export processing failed"})
            if export.path is None:
                cache_key = export.request if export.as_of is None else [
                    export.request, export.as_of.isoformat()]
                export.path = self.sandbox.cached("apsis", cache_key, s,
                                                  lambda: self._write(export))
            export.served = True
        path = export.path
        headers = {"Content-Type": "application/json"}
        if s.gzip and "gzip" in request.headers.get("accept-encoding", ""):
            gz = path.with_suffix(".json.gz")
            if not gz.exists():
                with path.open("rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            path = gz
            headers["Content-Encoding"] = "gzip"
        if s.truncate_body:
            cut = path.with_suffix(".cut")
            data = path.read_bytes()
            cut.write_bytes(data[: int(len(data) * 0.6)])
            path = cut
        return Response(200, headers=headers, file=path)


def _key(n: int) -> str:
    return f"pk-{n:06d}"


def _value(attribute: str, n: int, section_index: int) -> Any:
    if attribute == "attr.email":
        return f"p{n}@example.com"
    if attribute == "attr.points":
        return n * 10 + section_index
    if attribute == "attr.first_name":
        return ("Ada", "Linus", "Grace", "Alan")[n % 4]
    return ("Oslo", "Lyon", "Porto")[n % 3]


def _event_instant(event: dict[str, Any]) -> datetime:
    ms = event["sourceEventTime"] or event["createdAt"]
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(dumps(value)).decode().rstrip("=")
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2FuZGJveA"


PARAMETERS = frozenset({"segment_filter", "attributes", "tags", "events", "start_at", "end_at"})
MAX_ATTRIBUTES = 75
MAX_TAGS = 25
MAX_WINDOW = timedelta(days=92)  # "at most 3 months"
DEFAULT_WINDOW = timedelta(days=7)


def _validate(body: Any) -> str | None:
    """Why APSIS refuses this export request (None: it accepts it)."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    unknown = sorted(set(body) - PARAMETERS)
    if unknown:
        return f"unknown field(s): {', '.join(unknown)}"
    for name in ("attributes", "tags", "events"):
        value = body.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            return f"{name} must be an array of ids"
    if "segment_filter" in body and not isinstance(body["segment_filter"], dict):
        return "segment_filter must be an object"
    attributes, tags = body.get("attributes") or [], body.get("tags") or []
    if len(attributes) > MAX_ATTRIBUTES:
        return f"at most {MAX_ATTRIBUTES} attributes"
    if len(tags) > MAX_TAGS:
        return f"at most {MAX_TAGS} tags"
    if not attributes and not tags:
        return "at least one attribute or tag is required"
    if body.get("events") or "start_at" in body or "end_at" in body:
        if not body.get("events"):
            return "start_at/end_at are only for event exports (events is empty)"
        try:
            start, end = _window(body)
        except (KeyError, ValueError):
            return "start_at is required for event exports; start_at/end_at are RFC 3339"
        if end <= start:
            return "end_at must be after start_at"
        if end - start > MAX_WINDOW:
            return "the event window is at most 3 months"
    return None


def _window(body: dict[str, Any]) -> tuple[datetime, datetime]:
    """`start_at` → `end_at` (default: one week after `start_at`)."""
    start = parse_rfc3339(body["start_at"])
    end = parse_rfc3339(body["end_at"]) if "end_at" in body else start + DEFAULT_WINDOW
    return start, end


def _error(status: int, title: str, detail: str) -> Response:
    """APSIS's error shape."""
    return Response.json(status, {"title": title, "status": status, "detail": detail})
