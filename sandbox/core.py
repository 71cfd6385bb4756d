"""Sandbox core: two loopback HTTP servers (vendor API origin + pre-signed download origin),
routing to vendor modules, a request log, and fault injection."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import shutil
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from sandbox.timeline import WORLD, RealClock, SimulatedClock, anchor_from_env

SIGNING_KEY = b"sandbox-signing-key"
#: One emulator module per vendor: name → `module:Class` (a `…Sim(sandbox)` with `routes()`,
#: `tap_config()` and a `scenario`). A new vendor's sandbox module is added here.
SIMS: dict[str, str] = {
    "batch": "sandbox.batch:BatchSim",
    "apsis": "sandbox.apsis:ApsisSim",
    "braze": "sandbox.braze:BrazeSim",
}


@dataclass
class RecordedRequest:
    """One request the sandbox received."""

    origin: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    status: int
    at: float
    injected: bool = False


@dataclass
class ReadinessScenario:
    """When an export becomes ready: the part of every vendor's scenario that is shared."""

    ready_after: int = 1
    ready_after_seconds: float = 0

    def is_ready(self, checks: int, created: float) -> bool:
        """Ready once checked more than `ready_after` times and `ready_after_seconds` old."""
        return (checks > self.ready_after
                and time.monotonic() - created >= self.ready_after_seconds)


@dataclass
class Fault:
    """An injected failure for matching requests (`times` of them)."""

    vendor: str
    endpoint: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    action: str | None = None  # "reset" | "truncate_body"
    times: int = 1
    part: int | None = None


@dataclass
class Request:
    """What a route handler sees."""

    origin: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The parsed JSON body (None when absent or invalid)."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass
class Response:
    """What a route handler answers: bytes, or a file served from disk."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    part: int | None = None

    @classmethod
    def json(cls, status: int, payload: Any, **headers: str) -> Response:
        """A JSON answer."""
        return cls(status, json.dumps(payload).encode(),
                   {"Content-Type": "application/json", **headers})


Handler = Callable[[Request], Response]


@dataclass
class Route:
    """`method origin path` → handler; `vendor`/`endpoint` name it for faults."""

    origin: str
    method: str
    path: str
    vendor: str
    endpoint: str
    handler: Handler
    prefix: bool = False
    #: With `prefix`: the path must also end with this (`/audience/sections/<id>/tags`).
    suffix: str = ""


class Sandbox:
    """Emulator of the vendors' export APIs on 127.0.0.1 (see CONTRACT.md).

    It is strict: every request the real APIs would refuse is answered 400 (or 401/403/429)
    with the vendor's error shape, and logged. `refused()` lists the 400s no fault injected,
    so a suite can fail any test whose client sent a request a real vendor would refuse
    (tests that send bad requests on purpose call `expect_400()`).
    """

    #: Every 400 any sandbox answered by its own rules, with the sandbox that answered it
    #: (a test suite's guard reads and clears this around each test).
    #: Bounded: a long-running sandbox (demo) must not grow without end.
    refusals: ClassVar[deque[tuple[Sandbox, RecordedRequest]]] = deque(maxlen=10_000)

    def __init__(self, seed: int = 7, *, api_port: int = 0, download_port: int = 0,
                 host: str = "127.0.0.1", real_time: bool = False, s3_port: int = 0) -> None:
        """`real_time`: the data ends today and the clock is the machine's (the demo, the
        benchmarks, where the tap runs on real time); else the data ends at the fixed anchor
        (`sandbox.timeline`) and the clock is the simulated one every test shares."""
        self.seed = seed
        self.host = host
        self._ports = (api_port, download_port)
        self._lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._generated: dict[str, Any] = {}
        #: The simulated wall clock (shared with the tap runs of a test) or the real one.
        self.wall: SimulatedClock | RealClock = RealClock() if real_time else WORLD
        #: The day the synthetic data ends at (midnight UTC); tests may move it.
        self.anchor = (datetime.now(timezone.utc).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
                       if real_time else anchor_from_env())
        #: The vendors' clock when a test sets it (None: the wall clock). An event export holds
        #: the events that had arrived by it when it was created; every `Date` header shows it.
        self.clock: datetime | None = None
        self.cache_dir = Path(tempfile.mkdtemp(prefix="tap-profile-export-sandbox-"))
        self._servers: list[ThreadingHTTPServer] = []
        self.api_url = self.download_url = ""
        #: Every vendor's emulator by name (`SIMS`).
        self.sims: dict[str, Any] = {}
        for name, target in SIMS.items():
            module, _, cls = target.partition(":")
            self.sims[name] = getattr(importlib.import_module(module), cls)(self)
        self.batch_sim = self.sims["batch"]
        self.apsis_sim = self.sims["apsis"]
        self.braze_sim = self.sims["braze"]
        self.routes: list[Route] = [route for sim in self.sims.values() for route in sim.routes()]
        self.expecting_400 = False
        self._s3: Any = None
        self._s3_port = s3_port

    @property
    def s3(self) -> Any:
        """The S3 API on loopback (`sandbox.objectstore.S3Store`), started on first use."""
        with self._lock:
            if self._s3 is None:
                from sandbox.objectstore import S3Store  # moto: imported only when used

                self._s3 = S3Store.shared(self.host, self._s3_port)
            return self._s3

    def now(self) -> datetime:
        """The vendors' current time: `clock` when a test set it, else the wall clock."""
        return self.clock or self.wall.now()

    # -- scenario shortcuts ----------------------------------------------------------------

    @property
    def batch(self) -> Any:
        """The Batch scenario (mutable)."""
        return self.batch_sim.scenario

    @property
    def apsis(self) -> Any:
        """The APSIS scenario (mutable)."""
        return self.apsis_sim.scenario

    @property
    def braze(self) -> Any:
        """The Braze scenario (mutable)."""
        return self.braze_sim.scenario

    def expected_batch_profiles(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """File lines an attributes export with `body` serves."""
        return self.batch_sim.expected_profiles(body)

    def expected_batch_events(self, kind: str, start: datetime, end: datetime
                              ) -> list[dict[str, Any]]:
        """File lines an EVENTS/REACHABILITY export of `[start, end)` serves."""
        return self.batch_sim.expected_events(kind, start, end)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start both servers in daemon threads."""
        for origin, port in zip(("api", "download"), self._ports, strict=True):
            server = _Server((self.host, port), _handler_class(self, origin))
            threading.Thread(target=server.serve_forever, daemon=True,
                             name=f"sandbox-{origin}").start()
            self._servers.append(server)
        self.api_url = f"http://{self.host}:{self._servers[0].server_address[1]}"
        self.download_url = f"http://{self.host}:{self._servers[1].server_address[1]}"

    def stop(self) -> None:
        """Stop the servers and remove generated files."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()
        self._s3 = None  # the process's store stays up: the next sandbox resets it
        shutil.rmtree(self.cache_dir, ignore_errors=True)

    def reset(self) -> None:
        """Forget faults, requests and exports; scenarios back to defaults."""
        with self._lock:
            self._log.clear()
            self._faults.clear()
            self._generated.clear()
        for sim in self.sims.values():
            sim.reset()

    # -- faults and log --------------------------------------------------------------------

    def add_fault(self, vendor: str, endpoint: str, **kwargs: Any) -> None:
        """Inject a fault for the next `times` matching requests."""
        with self._lock:
            self._faults.append(Fault(vendor=vendor, endpoint=endpoint, **kwargs))

    def clear_faults(self) -> None:
        """Forget the injected faults not used up yet."""
        with self._lock:
            self._faults.clear()

    def requests(self) -> list[RecordedRequest]:
        """Snapshot of the request log (control calls excluded)."""
        with self._lock:
            return list(self._log)

    def expect_400(self) -> None:
        """Declare that the current test sends requests the vendors refuse, on purpose."""
        self.expecting_400 = True

    def refused(self, since: int = 0) -> list[RecordedRequest]:
        """Requests answered 400 by the sandbox's own rules (not by an injected fault)."""
        return [r for r in self.requests()[since:] if r.status == 400 and not r.injected]

    def take_fault(self, route: Route, part: int | None) -> Fault | None:
        """The first live fault matching this request (consumes one of its `times`)."""
        with self._lock:
            for fault in self._faults:
                if (fault.times > 0 and fault.vendor == route.vendor
                        and fault.endpoint == route.endpoint
                        and (fault.part is None or fault.part == part)):
                    fault.times -= 1
                    return fault
        return None

    def record(self, request: Request, status: int, *, injected: bool = False) -> None:
        """Append to the request log."""
        recorded = RecordedRequest(request.origin, request.method, request.path, request.query,
                                   request.headers, request.json(), status, time.time(),
                                   injected)
        with self._lock:
            self._log.append(recorded)
            if status == 400 and not injected:
                Sandbox.refusals.append((self, recorded))

    def vendor_headers(self, route: Route, status: int) -> dict[str, str]:
        """Headers a vendor stamps on every answer of its API (Braze: rate-limit headers)."""
        if route.vendor == "braze" and route.origin == "api":
            return self.braze_sim.rate_limit_headers(status)
        return {}

    def cached(self, vendor: str, request: Any, scenario: Any, build: Callable[[], Any]) -> Any:
        """Generated files are reused for an identical request and scenario (benchmarks
        export the same data several times; generation must not be measured twice)."""
        key = json.dumps([vendor, request, asdict(scenario)], sort_keys=True, default=str)
        with self._lock:
            found = self._generated.get(key)
        if found is None:
            found = build()
            with self._lock:
                self._generated[key] = found
        return found

    def tap_config(self) -> dict[str, Any]:
        """A complete tap config pointing at this sandbox (every vendor)."""
        return {
            "poll": {"initial_interval_seconds": 0.05, "max_interval_seconds": 0.2,
                     "timeout_seconds": 60},
            "retry": {"initial_delay_seconds": 0.01, "max_delay_seconds": 0.05},
            "http_timeout_seconds": 30,
            **{name: sim.tap_config() for name, sim in self.sims.items()},
        }

    # -- signed links ----------------------------------------------------------------------

    def sign(self, path: str, ttl_seconds: float) -> str:
        """A pre-signed URL on the download origin, valid for `ttl_seconds`."""
        expires = int(time.time() + ttl_seconds)
        signature = hmac.new(SIGNING_KEY, f"{path}:{expires}".encode(), hashlib.sha256)
        return f"{self.download_url}{path}?Expires={expires}&Signature={signature.hexdigest()}"

    @staticmethod
    def check_signature(request: Request) -> str | None:
        """None when the link is valid, else the S3-style error code."""
        try:
            expires = int(request.query.get("Expires", ""))
        except ValueError:
            return "AccessDenied"
        expected = hmac.new(SIGNING_KEY, f"{request.path}:{expires}".encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.query.get("Signature", "")):
            return "AccessDenied"
        if expires < time.time():
            return "ExpiredToken"
        return None


def s3_error(code: str, message: str, status: int = 403) -> Response:
    """An S3-like XML error."""
    body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
            f"<Message>{message}</Message></Error>").encode()
    return Response(status, body, {"Content-Type": "application/xml"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped connections are expected (faults, clients that stop reading)."""


def _handler_class(sandbox: Sandbox, origin: str) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY, as production HTTP servers set it: without it the body written after
        # the headers waits for the client's delayed ACK (~40 ms per keep-alive request).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def date_time_string(self, timestamp: float | None = None) -> str:
            if timestamp is None:
                timestamp = sandbox.now().timestamp()
            return super().date_time_string(timestamp)

        def do_GET(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def _dispatch(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                # The client hung up mid-body (a tap killed while sending): nobody to answer,
                # and no request a vendor would refuse.
                self.close_connection = True
                return
            request = Request(origin, self.command, split.path, dict(parse_qsl(split.query)),
                              {k.lower(): v for k, v in self.headers.items()}, body)
            if origin == "api" and split.path.startswith("/_sandbox/"):
                self._send(_control(sandbox, request))
                return
            route = next((r for r in sandbox.routes if r.origin == origin
                          and r.method == self.command
                          and (request.path.startswith(r.path)
                               and request.path.endswith(r.suffix) if r.prefix
                               else request.path == r.path)), None)
            if route is None:
                sandbox.record(request, 404)
                self._send(Response.json(404, {"message": "no such route"}))
                return
            response = route.handler(request)
            fault = sandbox.take_fault(route, response.part)
            if fault is not None:
                if fault.action in ("reset", "truncate_body"):
                    sandbox.record(request, 0, injected=True)
                    self._break(response, reset=fault.action == "reset")
                    return
                response = Response.json(fault.status or 500, fault.body or {
                    "message": "injected fault", "error_code": "SANDBOX_FAULT"},
                    **fault.headers)
            # Fault headers win (a test may stamp its own rate-limit reset).
            response.headers = {**sandbox.vendor_headers(route, response.status),
                                **response.headers}
            sandbox.record(request, response.status, injected=fault is not None)
            self._send(response)

        def _payload(self, response: Response) -> bytes:
            return response.file.read_bytes() if response.file else response.body

        def _send(self, response: Response) -> None:
            self.send_response(response.status)
            size = response.file.stat().st_size if response.file else len(response.body)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if self.command == "HEAD":
                return
            if response.file:
                with response.file.open("rb") as handle:
                    shutil.copyfileobj(handle, self.wfile, 1 << 20)
            else:
                self.wfile.write(response.body)

        def _break(self, response: Response, *, reset: bool) -> None:
            """Send headers and half the body (or nothing), then drop the connection."""
            payload = self._payload(response)
            if response.status == 200 and payload:
                self.send_response(200)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    return _Handler


def _control(sandbox: Sandbox, request: Request) -> Response:
    path = request.path.removeprefix("/_sandbox/")
    payload = request.json()
    if path == "requests":
        return Response.json(200, [asdict(r) for r in sandbox.requests()])
    if path == "refused":
        return Response.json(200, [asdict(r) for r in sandbox.refused()])
    if path == "faults":
        for fault in payload if isinstance(payload, list) else [payload]:
            sandbox.add_fault(**fault)
        return Response.json(200, {"ok": True})
    if path == "scenario":
        for vendor, fields in (payload or {}).items():
            scenario = getattr(sandbox, vendor)
            for key, value in fields.items():
                if not hasattr(scenario, key):
                    return Response.json(400, {"message": f"unknown {vendor} field {key}"})
                setattr(scenario, key, value)
        return Response.json(200, {"ok": True})
    if path == "reset":
        sandbox.reset()
        return Response.json(200, {"ok": True})
    if path == "config":
        return Response.json(200, sandbox.tap_config())
    return Response.json(404, {"message": "unknown control path"})
