"""Batch.com emulation: Profile API export + Project Export API (CONTRACT.md section 2)."""

from __future__ import annotations

import gzip
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.core import (
    ReadinessScenario,
    Request,
    Response,
    Route,
    s3_error,
)
from sandbox.data import (
    EVENT_NAMES,
    LANGUAGES,
    REACHABILITY_REASONS,
    TIERS,
    arrival_delay,
    dumps,
    evenly_spaced,
    parse_rfc3339,
    rfc3339,
    write_parts,
)

if TYPE_CHECKING:
    from sandbox.core import Sandbox

API_KEY = "rest_sandbox_key"
PROJECT_KEY = "project_sandbox"
LOOKBACK = timedelta(days=90)
REACHABILITY_FLOOR = datetime(2024, 10, 10, tzinfo=timezone.utc)
SCOPES = {"ATTRIBUTES": "PROFILE_ATTRIBUTES", "EVENTS": "PROFILE_EVENTS",
          "REACHABILITY": "PROFILE_REACHABILITY_EVENTS"}


@dataclass
class BatchScenario(ReadinessScenario):
    """Data sizes, timing and faults of the Batch emulation (tests change these)."""

    profiles: int = 200
    events: int = 300
    reachability_events: int = 100
    history_days: float = 30
    part_records: int = 500
    gzip: bool = True
    file_format: str = "ndjson"
    link_ttl_seconds: float = 1200
    export_error: bool = False
    expire_links_once: bool = False
    truncated_gzip_part: int | None = None
    malformed_line: tuple[int, int] | list[int] | None = None
    empty_part: int | None = None
    file_delay_seconds: float = 0
    deleted: list[int] = field(default_factory=list)  # profile numbers erased at the vendor
    #: Serve this part cut short (a complete HTTP answer, fewer bytes than `files[].size`)
    #: the next `short_part_times` times it is downloaded.
    short_part: int | None = None
    short_part_times: int = 1
    late_minutes: float = 0  # events arrive up to this late (see data.arrival_delay)
    export_errors: int = 0  # the next N exports created end in status ERROR (for good)
    #: An EVENTS/REACHABILITY export of more events than this ends in ERROR (0: no limit).
    #: Batch documents no size limit; ERROR is how any of its exports ends when it fails.
    max_events_per_export: int = 0


@dataclass
class _Export:
    id: str
    request: dict[str, Any]
    requested_at: str
    views: int = 0
    created: float = field(default_factory=time.monotonic)
    files: list[dict[str, Any]] = field(default_factory=list)
    status: str = "CREATED"
    as_of: datetime | None = None  # the sandbox clock at creation (None: real time)
    error: bool = False


class BatchSim:
    """Routes and state of the Batch emulation."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.scenario = BatchScenario()
        self._exports: dict[str, _Export] = {}
        self._files: dict[str, tuple[Path, int]] = {}
        self._links_issued: set[str] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Back to defaults."""
        self.scenario = BatchScenario()
        self._exports.clear()
        self._files.clear()
        self._links_issued.clear()

    def tap_config(self) -> dict[str, Any]:
        """The `batch` block of a tap config for this sandbox."""
        return {"api_url": self.sandbox.api_url, "api_key": API_KEY, "project_key": PROJECT_KEY,
                "identifiers": ["custom_id", "installation_ids"],
                "attributes": ["$email_address", "$language", "loyalty_tier"]}

    def routes(self) -> list[Route]:
        """API and download-origin routes."""
        return [
            Route("api", "POST", "/2.4/profiles/export", "batch", "create", self._create),
            Route("api", "GET", "/2.4/exports/view", "batch", "status", self._view),
            Route("api", "GET", "/2.4/exports/download", "batch", "download_link", self._link),
            Route("download", "GET", "/files/", "batch", "file", self._file, prefix=True),
        ]

    # -- data ------------------------------------------------------------------------------

    def profile_lines(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Lines of an ATTRIBUTES export."""
        identifiers = body.get("identifiers") or []
        attributes = body.get("attributes") or []
        segment = (body.get("filter") or {}).get("segment")
        for n in range(self.scenario.profiles):
            if (segment and n % 2) or n in self.scenario.deleted:
                continue
            ids: dict[str, Any] = {"profile_id": f"profile_{n:07d}"}
            if "custom_id" in identifiers:
                ids["custom_id"] = f"u{n}"
            if "installation_ids" in identifiers:
                ids["installation_ids"] = [f"inst-{n}-a"] + ([f"inst-{n}-b"] if n % 3 == 0
                                                             else [])
            attrs: dict[str, Any] = {}
            for name in attributes:
                value = _attribute(name, n)
                if value is not _MISSING:
                    attrs[name] = value
            yield {"identifiers": ids, "attributes": attrs}

    def event_lines(self, kind: str, start: datetime, end: datetime,
                    names: list[str] | None = None, as_of: datetime | None = None
                    ) -> Iterator[dict[str, Any]]:
        """Lines of an EVENTS or REACHABILITY export for `[start, end)` (only events that
        had arrived by `as_of`, when given)."""
        s = self.scenario
        count = s.events if kind == "EVENTS" else s.reachability_events
        origin = self.sandbox.anchor - timedelta(days=s.history_days)
        for k, at in evenly_spaced(count, origin, s.history_days):
            if not start <= at < end:
                continue
            if as_of is not None and \
                    at + arrival_delay(self.sandbox.seed, f"{kind}:{k}", s.late_minutes) > as_of:
                continue
            n = k % max(s.profiles, 1)
            ids = {"profile_id": f"profile_{n:07d}", "custom_id": f"u{n}",
                   "installation_id": f"inst-{n}-a"}
            if kind == "EVENTS":
                name = EVENT_NAMES[k % len(EVENT_NAMES)]
                if names and name not in names:
                    continue
                yield {"identifiers": ids, "event": {
                    "id": f"evt_{k:08d}", "name": name, "timestamp": rfc3339(at),
                    "attributes": {"amount": k % 100 + 0.5, "currency": "EUR",
                                   "first_purchase": k % 2 == 0, "item": {"sku": f"sku-{k % 17}"}}}}
            else:
                channel_key = "export_type" if k % 5 == 0 else "channel"
                yield {"identifiers": ids, "event": {
                    "id": f"reach_{k:08d}", channel_key: ("EMAIL", "SMS", "PUSH")[k % 3],
                    "timestamp": rfc3339(at),
                    "reasons": [REACHABILITY_REASONS[k % len(REACHABILITY_REASONS)]],
                    "has_phone_number": k % 2 == 0, "has_email_address": k % 3 != 0,
                    "sms_marketing": "subscribed" if k % 2 else "unsubscribed",
                    "email_marketing": "subscribed", "is_optin": k % 4 == 0,
                    "platform": ("iOS", "Android", "Web")[k % 3]}}

    def expected_profiles(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Every line an ATTRIBUTES export with `body` serves."""
        return list(self.profile_lines(body))

    def expected_events(self, kind: str, start: datetime, end: datetime
                        ) -> list[dict[str, Any]]:
        """Every line an EVENTS/REACHABILITY export of `[start, end)` serves."""
        return list(self.event_lines(kind, start, end))

    # -- handlers --------------------------------------------------------------------------

    def _auth_error(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "AUTHENTICATION_INVALID", "The Rest API Key is not valid")
        if request.headers.get("x-batch-project") != PROJECT_KEY:
            return _error(403, "AUTHENTICATION_INVALID",
                          "The Rest API Key is not valid for this project")
        return None

    def _create(self, request: Request) -> Response:
        denied = self._auth_error(request)
        if denied:
            return denied
        body = request.json()
        problem = _validate(body, self.sandbox.now()) if isinstance(body, dict) \
            else "body must be a JSON object"
        if problem:
            return _error(400, "VALIDATION_ERROR", problem)
        export = _Export(f"export_{self.sandbox.seed}_{next(self._ids):05d}", body,
                         rfc3339(self.sandbox.now()),
                         as_of=self.sandbox.clock)
        with self._lock:
            if self.scenario.export_errors > 0:
                self.scenario.export_errors -= 1
                export.error = True
            if self._too_large(body):
                export.error = True
            self._exports[export.id] = export
        return Response.json(202, {"id": export.id})

    def _too_large(self, body: dict[str, Any]) -> bool:
        limit = self.scenario.max_events_per_export
        kind = body.get("export_type")
        if not limit or kind not in ("EVENTS", "REACHABILITY"):
            return False
        window = parse_rfc3339(body["from"]), parse_rfc3339(body["to"])
        return sum(1 for _ in self.event_lines(kind, *window, as_of=self.sandbox.clock)) > limit

    def _view(self, request: Request) -> Response:
        denied = self._auth_error(request)
        if denied:
            return denied
        export = self._exports.get(request.query.get("id", ""))
        if export is None:
            return Response.json(404, {"error_code": "NOT_FOUND",
                                       "error_message": "Unknown export"})
        with self._lock:
            export.views += 1
            if export.status not in ("SUCCESS", "ERROR"):
                if self.scenario.is_ready(export.views, export.created):
                    export.status = "ERROR" if self.scenario.export_error or export.error \
                        else "SUCCESS"
                    if export.status == "SUCCESS":
                        export.files = self._files_for(export)
                else:
                    export.status = ("CREATED", "PENDING", "RUNNING")[min(export.views, 2)]
        answer: dict[str, Any] = {"id": export.id, "status": export.status,
                  "scope": SCOPES[export.request["export_type"]], "request": export.request,
                  "request_date": export.requested_at}
        if export.status == "SUCCESS":
            answer["files"] = export.files[::-1]  # clients must sort by part
        return Response.json(200, answer)

    def _files_for(self, export: _Export) -> list[dict[str, Any]]:
        """The export's files (reused when an identical export was generated before)."""
        request = export.request if export.as_of is None else [export.request,
                                                               rfc3339(export.as_of)]
        paths = self.sandbox.cached("batch", request, self.scenario,
                                    lambda: self._materialise(export))
        files = []
        for part, path in enumerate(paths, 1):
            file_id = f"file_{export.id.removeprefix('export_')}_{part}"
            self._files[file_id] = (path, part)
            files.append({"id": file_id, "part": part, "size": path.stat().st_size,
                          "url": f"{self.sandbox.api_url}/2.4/exports/download?id={file_id}"})
        return files

    def _materialise(self, export: _Export) -> list[Path]:
        s = self.scenario
        body = export.request
        if body["export_type"] == "ATTRIBUTES":
            rows: Iterator[dict[str, Any]] = self.profile_lines(body)
        else:
            rows = self.event_lines(body["export_type"], parse_rfc3339(body["from"]),
                                    parse_rfc3339(body["to"]), body.get("events"), export.as_of)
        lines: Iterator[bytes] = (dumps(r) for r in rows)
        malformed = tuple(s.malformed_line) if s.malformed_line else None
        if malformed or s.empty_part:
            lines = _faulty_lines(lines, s.part_records, malformed)
        directory = self.sandbox.cache_dir / export.id
        directory.mkdir(parents=True, exist_ok=True)
        paths = write_parts(directory, "part", lines, per_part=s.part_records,
                            compress=s.gzip, as_array=s.file_format == "json_array")
        if s.empty_part:
            empty = directory / "empty.json.gz"
            empty.write_bytes(gzip.compress(b"") if s.gzip else b"")
            paths.insert(min(s.empty_part - 1, len(paths)), empty)
        for part, path in enumerate(paths, 1):
            if s.truncated_gzip_part == part:
                data = path.read_bytes()
                path.write_bytes(data[: max(10, int(len(data) * 0.6))])
        return paths

    def _link(self, request: Request) -> Response:
        denied = self._auth_error(request)
        if denied:
            return denied
        file_id = request.query.get("id", "")
        if file_id not in self._files:
            return Response.json(404, {"error_code": "NOT_FOUND",
                                       "error_message": "Unknown file"})
        ttl = self.scenario.link_ttl_seconds
        with self._lock:
            if self.scenario.expire_links_once and file_id not in self._links_issued:
                ttl = -60
            self._links_issued.add(file_id)
        location = self.sandbox.sign(f"/files/{file_id}", ttl)
        return Response(307, b"", {"Location": location}, part=self._files[file_id][1])

    def _file(self, request: Request) -> Response:
        file_id = request.path.removeprefix("/files/")
        part = self._files.get(file_id, (None, None))[1]
        if "authorization" in request.headers or "x-batch-project" in request.headers:
            response = s3_error("InvalidArgument", "Only one auth mechanism allowed", 400)
            response.part = part
            return response
        problem = self.sandbox.check_signature(request)
        if problem:
            message = "Request has expired" if problem == "ExpiredToken" else "Access Denied"
            response = s3_error("AccessDenied" if problem != "ExpiredToken" else problem,
                                message)
            response.part = part
            return response
        if file_id not in self._files:
            return s3_error("NoSuchKey", "The specified key does not exist.", 404)
        path, part = self._files[file_id]
        if self.scenario.file_delay_seconds:
            time.sleep(self.scenario.file_delay_seconds)
        with self._lock:
            short = self.scenario.short_part == part and self.scenario.short_part_times > 0
            if short:
                self.scenario.short_part_times -= 1
        if short:
            data = path.read_bytes()
            return Response(200, data[: data.rfind(b"\n", 0, len(data) // 2) + 1],
                            {"Content-Type": "application/octet-stream"}, part=part)
        return Response(200, headers={"Content-Type": "application/octet-stream"}, file=path,
                        part=part)


_MISSING = object()


def _attribute(name: str, n: int) -> Any:
    if name == "$email_address":
        return f"user{n}@example.com"
    if name == "$language":
        return LANGUAGES[n % len(LANGUAGES)]
    if name == "loyalty_tier":
        return _MISSING if n % 10 == 0 else TIERS[n % len(TIERS)]
    if name == "$email_marketing":
        return "subscribed" if n % 2 else "unsubscribed"
    return None if n % 9 == 0 else f"{name}-{n % 7}"


# Body parameters of each export type (anything else is refused) and its arrays, which the
# OpenAPI declares `minItems: 1` — a list that is not wanted is left out, never sent empty.
PARAMETERS = {
    "ATTRIBUTES": frozenset({"export_type", "identifiers", "attributes", "filter"}),
    "EVENTS": frozenset({"export_type", "identifiers", "from", "to", "events"}),
    "REACHABILITY": frozenset({"export_type", "identifiers", "from", "to"}),
}
ARRAYS = ("identifiers", "attributes", "events")


def _validate(body: dict[str, Any], now: datetime) -> str | None:
    """Why Batch refuses this export request (None: it accepts it). `now`: request time."""
    kind = body.get("export_type")
    if kind not in SCOPES:
        return f"export_type must be one of {', '.join(SCOPES)}"
    unknown = sorted(set(body) - PARAMETERS[kind])
    if unknown:
        return f"unknown parameter(s) for a {kind} export: {', '.join(unknown)}"
    for name in ARRAYS:
        if name in body:
            value = body[name]
            if not isinstance(value, list) or not value:
                return f"{name} must be a non-empty array (minItems: 1)"
            if not all(isinstance(v, str) and v for v in value):
                return f"{name} must contain only non-empty strings"
    if kind == "ATTRIBUTES":
        if "identifiers" not in body and "attributes" not in body:
            return "at least one of identifiers or attributes is required"
        if "filter" in body:
            segment = body["filter"].get("segment") if isinstance(body["filter"], dict) \
                else None
            if not isinstance(segment, str) or not segment or set(body["filter"]) != {"segment"}:
                return "filter must be {\"segment\": \"<segment code>\"}"
        return None
    try:
        start, end = parse_rfc3339(body["from"]), parse_rfc3339(body["to"])
    except (KeyError, ValueError):
        return "from and to must be RFC 3339 date-times"
    if start < now - LOOKBACK:
        return "from is older than the lookback period (90 days)"
    if kind == "REACHABILITY" and start < REACHABILITY_FLOOR:
        return "reachability events are only available from 2024-10-10T00:00:00Z"
    if end <= start:
        return "to must be after from"
    return None


def _error(status: int, code: str, message: str) -> Response:
    """Batch's error shape."""
    return Response.json(status, {"error_code": code, "error_message": message})


def _faulty_lines(lines: Iterator[bytes], per_part: int,
                  malformed: tuple[int, ...] | None) -> Iterator[bytes]:
    for index, line in enumerate(lines):
        part, line_no = index // per_part + 1, index % per_part + 1
        if malformed and (part, line_no) == malformed:
            yield b'{"identifiers": {"profile_id": '
        else:
            yield line

