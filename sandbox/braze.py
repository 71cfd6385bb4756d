"""Braze emulation: segment and global-control-group exports behind pre-signed URLs (403
AccessDenied until ready, then a ZIP of NDJSON members), the synchronous ids export, and
rate-limit headers — CONTRACT.md §4."""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
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
#: A second workspace, with S3 credentials set up in Braze: its exports always go to the
#: sandbox's bucket (`sandbox.objectstore.BRAZE_BUCKET`), file by file, without `url`.
BUCKET_API_KEY = "braze-sandbox-bucket-key"
SEGMENTS = ("seg-alpha", "seg-beta")
# The valid `fields_to_export` of each endpoint, as Braze's endpoint pages list them
# (braze-docs _docs/_api/endpoints/export/user_data/*.md). Names seen only in response
# examples (campaigns_received, canvases_received, cards_clicked, push_opted_in_at) are not
# valid there.
_COMMON_FIELDS = frozenset({
    "apps", "attributed_campaign", "attributed_source", "attributed_adgroup", "attributed_ad",
    "braze_id", "country", "created_at", "custom_attributes", "custom_events", "devices", "dob",
    "email", "external_id", "first_name", "gender", "home_city", "language", "last_coordinates",
    "last_name", "phone", "purchases", "random_bucket", "time_zone", "total_revenue",
    "uninstalled_at", "user_aliases",
})
VALID_FIELDS = {
    "segment": _COMMON_FIELDS | {"push_subscribe", "email_subscribe", "push_tokens"},
    "ids": _COMMON_FIELDS | {"push_subscribe", "email_subscribe", "push_tokens"},
    "global_control_group": _COMMON_FIELDS,
}
# Body parameters each endpoint accepts; anything else is refused.
PARAMETERS = {
    "segment": frozenset({"segment_id", "fields_to_export", "custom_attributes_to_export",
                          "callback_endpoint", "output_format"}),
    "global_control_group": frozenset({"fields_to_export", "callback_endpoint",
                                       "output_format"}),
    "ids": frozenset({"external_ids", "user_aliases", "device_id", "braze_id", "email_address",
                      "phone", "fields_to_export"}),
}
MAX_IDS = 50
E164 = re.compile(r"\+[1-9][0-9]{7,14}")
BRAZE_ID_BASE = 0x5F0000000000
PHONE_BASE = 4790000000
MAX_CUSTOM_ATTRIBUTES = 500
#: The global control group's segment id: Braze's own, never told to the caller.
CONTROL_GROUP_SEGMENT = "b0c1a9e2d7f84c3e9a5b6c7d8e9f0a1b"


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
    deleted: list[int] = field(default_factory=list)  # user numbers erased at the vendor
    #: An outage of the ids endpoint: once this many ids requests were answered, every other
    #: one is answered 503 (None: no outage).
    ids_outage_after: int | None = None
    #: X-RateLimit-Reset of ordinary answers (2xx, 4xx, 5xx): Braze's window can end up to an
    #: hour away. 429 answers carry `retry_reset_seconds` instead.
    rate_limit_reset_seconds: float = 3600
    retry_reset_seconds: float = 1
    #: The bucket of the sandbox's S3 store this account exports to (S3 credentials set up in
    #: Braze): exports are answered without `url` and written there, file by file. None:
    #: Braze's own storage behind a signed `url`.
    bucket: str | None = None
    #: Users per file in the bucket (Braze: "generally 1 file per 5,000 users").
    users_per_file: int = 5000
    #: Seconds before the first file is written, and between two files.
    first_file_after_seconds: float = 0.2
    file_interval_seconds: float = 0.1
    #: Days after the request the date folder names (Braze names the day the export finished).
    date_folder_delay_days: int = 0


@dataclass
class _Export:
    prefix: str
    scope: str
    fields: list[str]
    created: float
    probes: int = 0
    path: Path | None = None
    was_ready: bool = False
    output_format: str = "zip"


class BrazeSim:
    """Routes and state of the Braze emulation."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.scenario = BrazeScenario()
        self._exports: dict[str, _Export] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._expired_once = self._limited_once = False
        self._ids_answered = 0

    def reset(self) -> None:
        """Back to defaults."""
        self.scenario = BrazeScenario()
        self._exports.clear()
        self._expired_once = self._limited_once = False
        self._ids_answered = 0

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
            members = list(range(s.users - s.control_group_users, s.users))
        else:
            salt = sum(map(ord, scope.split(":", 1)[1]))
            members = [n for n in range(s.users) if (n + salt) % 3 != 0]
        return [n for n in members if n not in s.deleted]

    def user(self, n: int, fields: list[str]) -> dict[str, Any]:
        """User `n` with the requested fields (braze_id always)."""
        full = {
            "braze_id": f"{BRAZE_ID_BASE + n:024x}",
            "external_id": f"user-{n}",
            "created_at": f"2020-07-{n % 28 + 1:02d} 15:00:{n % 60:02d}.000 UTC",
            "first_name": ("Ada", "Linus", "Grace")[n % 3], "last_name": f"Last{n}",
            "email": f"user{n}@example.com", "phone": f"+{PHONE_BASE + n}",
            "dob": "1990-01-02", "country": "NO",
            "home_city": "Oslo", "language": "en", "time_zone": "Europe/Oslo",
            "last_coordinates": [round(10.7 + n % 100 / 1000, 3), 59.91],
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

    def rate_limit_headers(self, status: int) -> dict[str, str]:
        """The rate-limit headers Braze stamps on every API answer, 5xx included."""
        s = self.scenario
        wait = s.retry_reset_seconds if status == 429 else s.rate_limit_reset_seconds
        return {"X-RateLimit-Limit": "250000",
                "X-RateLimit-Remaining": "0" if status == 429 else "249000",
                "X-RateLimit-Reset": str(int(time.time() + wait))}

    def _auth_error(self, request: Request) -> Response | None:
        header = request.headers.get("authorization")
        if header is None or not header.startswith("Bearer "):
            return _error(401, "Unauthorized: missing REST API key")
        if header not in (f"Bearer {API_KEY}", f"Bearer {BUCKET_API_KEY}"):
            return _error(401, "Invalid API key")
        return None

    def _body(self, request: Request, endpoint: str) -> tuple[dict[str, Any], Response | None]:
        """The JSON body, or the 400 Braze answers to a body this endpoint does not accept."""
        body = request.json()
        if not isinstance(body, dict):
            return {}, _error(400, "Invalid JSON body")
        unknown = sorted(set(body) - PARAMETERS[endpoint])
        if unknown:
            return body, _error(400, f"Unknown parameter(s) for /users/export/{endpoint}",
                                [f"'{name}' is not a valid parameter" for name in unknown])
        fields = body.get("fields_to_export")
        if endpoint != "ids" or fields is not None:
            if (not isinstance(fields, list) or not fields
                    or not all(isinstance(f, str) for f in fields)):
                return body, _error(400, "fields_to_export must be a non-empty array of strings")
            invalid = sorted(set(fields) - VALID_FIELDS[endpoint])
            if invalid:
                return body, _error(400, "Invalid fields_to_export",
                                    [f"'{name}' is not a valid field to export"
                                     for name in invalid])
        if "output_format" in body and body["output_format"] not in ("zip", "gzip"):
            return body, _error(400, "output_format must be 'zip' or 'gzip'")
        if "callback_endpoint" in body and not isinstance(body["callback_endpoint"], str):
            return body, _error(400, "callback_endpoint must be a string")
        return body, None

    def _start(self, request: Request, endpoint: str) -> Response:
        denied = self._auth_error(request)
        if denied:
            return denied
        body, refused = self._body(request, endpoint)
        if refused:
            return refused
        if endpoint == "segment":
            segment = body.get("segment_id")
            if not isinstance(segment, str) or not segment:
                return _error(400, "segment_id is required")
            custom = body.get("custom_attributes_to_export")
            if custom is not None and (not isinstance(custom, list)
                                       or not all(isinstance(c, str) for c in custom)
                                       or len(custom) > MAX_CUSTOM_ATTRIBUTES):
                return _error(400, "custom_attributes_to_export must be an array of at most "
                                   f"{MAX_CUSTOM_ATTRIBUTES} strings")
            scope = f"segment:{segment}"
        else:
            scope = "global_control_group"
        fields = body["fields_to_export"]
        with self._lock:
            running = any(e.scope == scope and not e.was_ready for e in self._exports.values())
            if self.scenario.running_429_once and running and not self._limited_once:
                self._limited_once = True
                return _error(429, "export of this segment is running")
            number = next(self._ids)
            bucket = self.scenario.bucket
            if request.headers.get("authorization") == f"Bearer {BUCKET_API_KEY}":
                from sandbox.objectstore import BRAZE_BUCKET  # moto: only when used

                bucket = bucket or BRAZE_BUCKET
            if bucket:  # Braze's layout: RANDOM_UUID-TIMESTAMP_WHEN_EXPORT_STARTED
                prefix = f"{_uuid(scope, self.sandbox.seed, number)}-{int(time.time())}"
            else:
                prefix = f"{scope.replace(':', '-')}-{self.sandbox.seed}-{number:05d}"
            export = _Export(prefix, scope, fields, time.monotonic(),
                             output_format=body.get("output_format", "zip"))
            self._exports[prefix] = export
        if bucket:
            BucketWriter(self, export, bucket).start()
            return Response.json(201, {"message": "success", "object_prefix": prefix})
        url = self.sandbox.sign(f"/braze/{prefix}", self.scenario.link_ttl_seconds)
        return Response.json(201, {"message": "success", "object_prefix": prefix, "url": url})

    def _segment(self, request: Request) -> Response:
        return self._start(request, "segment")

    def _control_group(self, request: Request) -> Response:
        return self._start(request, "global_control_group")

    def _ids_export(self, request: Request) -> Response:
        denied = self._auth_error(request)
        if denied:
            return denied
        body, refused = self._body(request, "ids")
        if refused:
            return refused
        refused = _ids_refusal(body)
        if refused:
            return refused
        with self._lock:
            s = self.scenario
            if s.ids_outage_after is not None and self._ids_answered >= s.ids_outage_after:
                return _error(503, "Service Unavailable")
            self._ids_answered += 1
        fields = body.get("fields_to_export") or ["braze_id"]
        numbers: list[int] = []
        invalid: list[str] = []
        for identifier, number in self._matches(body):
            if number is None:
                invalid.append(identifier)
            elif number not in numbers:
                numbers.append(number)
        answer: dict[str, Any] = {"message": "success",
                                  "users": [self.user(n, fields) for n in numbers]}
        if invalid:
            answer["invalid_user_ids"] = invalid
        return Response.json(201, answer)

    def _matches(self, body: dict[str, Any]) -> list[tuple[str, int | None]]:
        """(identifier as listed in `invalid_user_ids`, the user it matches or None) per
        identifier of a valid request. An alias is listed by its alias_name."""
        found = [(i, self._existing(_number(i, "user-"))) for i in body.get("external_ids", [])]
        found += [(a["alias_name"], self._existing(
            _number(a["alias_name"], "alias-") if a["alias_label"] == "crm" else None))
            for a in body.get("user_aliases", [])]
        found += [(body[key], self._existing(number_of(body[key])))
                  for key, number_of in USER_NUMBER.items() if key in body]
        return found

    def _existing(self, number: int | None) -> int | None:
        """`number` if that user exists (and was not deleted), else None."""
        s = self.scenario
        if number is None or not 0 <= number < s.users or number in s.deleted:
            return None
        return number

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


def _ids_refusal(body: dict[str, Any]) -> Response | None:
    """The 400 Braze answers to identifiers `/users/export/ids` does not accept."""
    ids, aliases = body.get("external_ids", []), body.get("user_aliases", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        return _error(400, "external_ids must be an array of strings")
    if not isinstance(aliases, list) or not all(
            isinstance(a, dict) and set(a) == {"alias_name", "alias_label"}
            and all(isinstance(v, str) and v for v in a.values()) for a in aliases):
        return _error(400, "user_aliases must be an array of user alias objects",
                      ["each alias needs a string alias_name and a string alias_label"])
    if len(ids) + len(aliases) > MAX_IDS:
        return _error(400, "The max number of external_ids and aliases per request was "
                           "exceeded")
    singles = [key for key in USER_NUMBER if key in body]
    if len(singles) > 1 or (singles and ("external_ids" in body or "user_aliases" in body)):
        return _error(400, "Only one identifier can be included per request when using "
                           "braze_id, device_id, email_address or phone",
                      [f"'{key}' cannot be combined with other identifiers" for key in singles])
    if not singles and not ids and not aliases:
        return _error(400, "No user identifier was given")
    for key in singles:
        if not isinstance(body[key], str) or not body[key]:
            return _error(400, f"{key} must be a string")
    if "phone" in body and not E164.fullmatch(body["phone"]):
        return _error(400, "phone must be in E.164 format")
    return None


def _number(value: str, prefix: str, suffix: str = "") -> int | None:
    """`n` of `<prefix><n><suffix>`, else None."""
    if value.startswith(prefix) and value.endswith(suffix):
        digits = value[len(prefix):len(value) - len(suffix)]
        if digits.isdigit():
            return int(digits)
    return None


def _braze_number(value: str) -> int | None:
    """`n` of the braze_id `BrazeSim.user(n)` gives, else None."""
    try:
        return int(value, 16) - BRAZE_ID_BASE if len(value) == 24 else None
    except ValueError:
        return None


#: The identifiers sent one per request, alone ("only one of these identifiers can be included
#: per request"; braze_id is read the same way: strict, the docs do not say it combines), and
#: which user each names, as `BrazeSim.user(n)` writes them.
USER_NUMBER: dict[str, Callable[[str], int | None]] = {
    "braze_id": _braze_number,
    "device_id": lambda value: _number(value, "dev-"),
    "email_address": lambda value: _number(value, "user", "@example.com"),
    "phone": lambda value: int(value[1:]) - PHONE_BASE,
}

class BucketWriter(threading.Thread):
    """Writes one export into the customer's bucket as Braze does: after a delay, file by
    file, under `segment-export/SEGMENT_ID/YYYY-MM-dd/<object_prefix>/<random>.zip|.gz`."""

    def __init__(self, sim: BrazeSim, export: _Export, bucket: str) -> None:
        super().__init__(daemon=True, name=f"braze-bucket-{export.prefix}")
        self.sim = sim
        self.export = export
        self.bucket = bucket
        self.scenario = sim.scenario

    def key_folder(self) -> str:
        """The export's folder: its segment, the day it finished, its prefix."""
        scope = self.export.scope
        segment = (CONTROL_GROUP_SEGMENT if scope == "global_control_group"
                   else scope.split(":", 1)[1])
        day = self.sim.sandbox.now() + timedelta(days=self.scenario.date_folder_delay_days)
        return f"segment-export/{segment}/{day:%Y-%m-%d}/{self.export.prefix}"

    def files(self) -> list[bytes]:
        """The export's files: NDJSON of `users_per_file` users each, zipped or gzipped."""
        s = self.scenario
        members = self.sim.members_of(self.export.scope)
        per_file = max(1, s.users_per_file)
        groups = [members[i:i + per_file] for i in range(0, len(members), per_file)] or [[]]
        if s.duplicate_user and len(groups[0]) > 2:
            groups[0].append(groups[0][1])  # Braze's duplicates (cleaned up weekly)
        files = []
        for index, group in enumerate(groups):
            lines = b"".join(dumps(self.sim.user(n, self.export.fields)) + b"\n"
                             for n in group)
            if self.export.output_format == "gzip":
                data = gzip.compress(lines, compresslevel=1)
            else:
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                    archive.writestr(f"{_uuid(self.export.prefix, index, 0).replace('-', '')}"
                                     ".txt", lines)
                data = buffer.getvalue()
            if index == 1 and (s.corrupt_archive or s.truncated_archive):
                data = (data[: int(len(data) * 0.7)] if s.truncated_archive else
                        data[:len(data) // 2] + b"\x00" * 64 + data[len(data) // 2 + 64:])
            files.append(data)
        return files

    def run(self) -> None:
        client = self.sim.sandbox.s3.client("braze")
        folder = self.key_folder()
        suffix = "gz" if self.export.output_format == "gzip" else "zip"
        time.sleep(self.scenario.first_file_after_seconds)
        for index, data in enumerate(self.files()):
            if index:
                time.sleep(self.scenario.file_interval_seconds)
            name = _uuid(self.export.prefix, index, 1).replace("-", "")
            client.put_object(Bucket=self.bucket, Key=f"{folder}/{name}.{suffix}", Body=data)
        self.export.was_ready = True


def _uuid(*parts: object) -> str:
    """A UUID derived from `parts` (the sandbox is deterministic)."""
    return str(uuid.UUID(bytes=hashlib.sha256(repr(parts).encode()).digest()[:16], version=4))


def _error(status: int, message: str, errors: list[str] | None = None) -> Response:
    """Braze's error shape."""
    return Response.json(status, {"message": message, "errors": errors or [message]})
