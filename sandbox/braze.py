"""Braze emulation: segment and global-control-group exports behind pre-signed URLs (403
AccessDenied until ready, then a ZIP of NDJSON members), the synchronous ids export, and
rate-limit headers — CONTRACT.md §4."""

from __future__ import annotations

import gzip
import itertools
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.core import (
    ReadinessScenario,
    Request,
    Response,
    Route,
    s3_error,
)
from sandbox.data import dumps

if TYPE_CHECKING:
    from sandbox.core import Sandbox

API_KEY = "braze-sandbox-key"
SEGMENTS = ("seg-alpha", "seg-beta")


@dataclass
class BrazeScenario(ReadinessScenario):
    """Data sizes, timing and faults of the Braze emulation (tests change these)."""

    users: int = 120
    control_group_users: int = 15
    members: int = 3
    not_ready_status: int = 403
    link_ttl_seconds: float = 4 * 3600
    duplicate_user: bool = True
    gzip_body: bool = False
    expire_after_ready_once: bool = False
    running_429_once: bool = False
    corrupt_archive: bool = False
    truncated_archive: bool = False


@dataclass
class _Export:
    prefix: str
    scope: str
    fields: list[str]
    created: float
    probes: int = 0
    path: Path | None = None
    was_ready: bool = False


class BrazeSim:
    """Routes and state of the Braze emulation."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.scenario = BrazeScenario()
        self._exports: dict[str, _Export] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._expired_once = self._limited_once = False

    def reset(self) -> None:
        """Back to defaults."""
        self.scenario = BrazeScenario()
        self._exports.clear()
        self._expired_once = self._limited_once = False

    def tap_config(self) -> dict[str, Any]:
        """The `braze` block of a tap config for this sandbox."""
        return {"api_key": API_KEY, "rest_endpoint": self.sandbox.api_url,
                "segment_ids": list(SEGMENTS), "global_control_group": True,
                "external_ids": [f"user-{n}" for n in range(0, 120, 7)] + ["no-such-user"]}

    def routes(self) -> list[Route]:
        """API and download-origin routes."""
        return [
            Route("api", "POST", "/users/export/segment", "braze", "create", self._segment),
            Route("api", "POST", "/users/export/global_control_group", "braze", "create",
                  self._control_group),
            Route("api", "POST", "/users/export/ids", "braze", "ids", self._ids_export),
            Route("download", "GET", "/braze/", "braze", "file", self._download, prefix=True),
        ]

    # -- data ------------------------------------------------------------------------------

    def members_of(self, scope: str) -> list[int]:
        """User numbers in a scope (`segment:<id>` or `global_control_group`)."""
        s = self.scenario
        if scope == "global_control_group":
            return list(range(s.users - s.control_group_users, s.users))
        segment = scope.split(":", 1)[1]
        salt = sum(map(ord, segment))
        return [n for n in range(s.users) if (n + salt) % 3 != 0]

    def user(self, n: int, fields: list[str]) -> dict[str, Any]:
        """User `n` with the requested fields (braze_id always)."""
        full = {
            "braze_id": f"{0x5F0000000000 + n:024x}",
            "external_id": f"user-{n}",
            "created_at": f"2020-07-{n % 28 + 1:02d} 15:00:{n % 60:02d}.000 UTC",
            "first_name": ("Ada", "Linus", "Grace")[n % 3], "last_name": f"Last{n}",
            "email": f"user{n}@example.com", "dob": "1990-01-02", "country": "NO",
            "home_city": "Oslo", "language": "en", "time_zone": "Europe/Oslo",
            "gender": ("M", "F", "O", None)[n % 4], "total_revenue": n * 1.5,
            "random_bucket": n * 37 % 10000, "email_subscribe": "opted_in",
            "push_subscribe": "subscribed",
            "custom_attributes": {"tier": ("gold", "silver")[n % 2], "visits": n,
                                  "nested": {"a": [n, n + 1]}},
            "custom_events": [{"name": "login", "first": "2020-01-01T00:00:00.000Z",
                               "last": "2025-01-01T00:00:00.000Z", "count": n}],
            "purchases": [{"name": "sku-1", "first": "2021-01-01T00:00:00.000Z",
                           "last": "2025-01-01T00:00:00.000Z", "count": n % 4}],
            "devices": [{"model": "Pixel", "os": "Android 14", "device_id": f"dev-{n}"}],
            "push_tokens": [{"app": "demo", "platform": "Android", "token": f"tok{n}"}],
            "apps": [{"name": "demo", "platform": "Android", "version": "1.2",
                      "sessions": n, "first_used": "2020-01-01T00:00:00.000Z",
                      "last_used": "2025-01-01T00:00:00.000Z"}],
            "campaigns_received": [], "canvases_received": [], "cards_clicked": [],
            "user_aliases": [{"alias_name": f"alias-{n}", "alias_label": "crm"}],
        }
        return {k: v for k, v in full.items() if k in fields or k == "braze_id"}

    def expected_users(self, scope: str, fields: list[str]) -> list[dict[str, Any]]:
        """The distinct users an export of `scope` holds."""
        return [self.user(n, fields) for n in self.members_of(scope)]

    def _write(self, export: _Export) -> Path:
        """Stream the archive to disk: members of `users_per_member` users (Braze: ~5,000)."""
        s = self.scenario
        members = self.members_of(export.scope)
        if s.duplicate_user and len(members) > 2:
            members.append(members[1])
        lines = (dumps(self.user(n, export.fields)) + b"\n" for n in members)
        path = self.sandbox.cache_dir / f"braze-{export.prefix}"
        if s.gzip_body:
            with gzip.open(path, "wb", compresslevel=1) as out:
                for line in lines:
                    out.write(line)
        else:
            per_member = max(1, -(-len(members) // max(s.members, 1)))
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
                for index in range(-(-len(members) // per_member)):
                    suffix = "json" if index % 2 == 0 else "txt"
                    with archive.open(f"{export.prefix}/part-{index}.{suffix}", "w") as member:
                        for line in itertools.islice(lines, per_member):
                            member.write(line)
                archive.writestr(f"{export.prefix}/empty.txt", b"")
        if s.truncated_archive or s.corrupt_archive:
            data = path.read_bytes()
            if s.truncated_archive:
                path.write_bytes(data[: int(len(data) * 0.7)])
            else:
                middle = len(data) // 2
                path.write_bytes(data[:middle] + b"\x00" * 64 + data[middle + 64:])
        return path

    # -- handlers --------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": "250000", "X-RateLimit-Remaining": "249000",
                "X-RateLimit-Reset": str(int(time.time()) + 1)}

    def _auth_error(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return Response.json(401, {"message": "Invalid API key"}, **self._headers())
        return None

    def _start(self, request: Request, scope: str) -> Response:
        denied = self._auth_error(request)
        if denied:
            return denied
        body = request.json() or {}
        fields = body.get("fields_to_export")
        if not isinstance(fields, list) or not fields:
            return Response.json(400, {"message": "fields_to_export is required"},
                                 **self._headers())
        with self._lock:
            running = any(e.scope == scope and not e.was_ready for e in self._exports.values())
            if self.scenario.running_429_once and running and not self._limited_once:
                self._limited_once = True
                headers = {**self._headers(), "X-RateLimit-Remaining": "0"}
                return Response.json(429, {"message": "export of this segment is running"},
                                     **headers)
            prefix = f"{scope.replace(':', '-')}-{self.sandbox.seed}-{next(self._ids):05d}"
            self._exports[prefix] = _Export(prefix, scope, fields, time.monotonic())
        url = self.sandbox.sign(f"/braze/{prefix}", self.scenario.link_ttl_seconds)
        return Response.json(201, {"message": "success", "object_prefix": prefix, "url": url},
                             **self._headers())

    def _segment(self, request: Request) -> Response:
        body = request.json() or {}
        segment = body.get("segment_id")
        if not isinstance(segment, str) or not segment:
            return Response.json(400, {"message": "segment_id is required"})
        return self._start(request, f"segment:{segment}")

    def _control_group(self, request: Request) -> Response:
        return self._start(request, "global_control_group")

    def _ids_export(self, request: Request) -> Response:
        denied = self._auth_error(request)
        if denied:
            return denied
        body = request.json() or {}
        ids = body.get("external_ids") or []
        if len(ids) > 50:
            return Response.json(400, {"message": "The max number of external_ids and aliases "
                                                  "per request was exceeded"})
        fields = body.get("fields_to_export") or ["braze_id"]
        users, invalid = [], []
        for external_id in ids:
            number = external_id.removeprefix("user-")
            if number.isdigit() and int(number) < self.scenario.users:
                users.append(self.user(int(number), fields))
            else:
                invalid.append(external_id)
        answer: dict[str, Any] = {"message": "success", "users": users}
        if invalid:
            answer["invalid_user_ids"] = invalid
        return Response.json(201, answer, **self._headers())

    def _download(self, request: Request) -> Response:
        problem = self.sandbox.check_signature(request)
        if problem:
            return s3_error(problem, "Request has expired" if problem == "ExpiredToken"
                            else "Access Denied")
        if "authorization" in request.headers:
            return s3_error("InvalidArgument", "Only one auth mechanism allowed", 400)
        export = self._exports.get(request.path.removeprefix("/braze/"))
        if export is None:
            return s3_error("NoSuchKey", "The specified key does not exist.", 404)
        s = self.scenario
        with self._lock:
            export.probes += 1
            if not s.is_ready(export.probes, export.created):
                return s3_error("AccessDenied", "Access Denied", s.not_ready_status)
            if s.expire_after_ready_once and export.was_ready and not self._expired_once:
                self._expired_once = True
                return s3_error("ExpiredToken", "The provided token has expired.")
            export.was_ready = True
            if export.path is None:
                export.path = self.sandbox.cached("braze", [export.scope, export.fields], s,
                                                  lambda: self._write(export))
        return Response(200, headers={"Content-Type": "application/zip"}, file=export.path)


