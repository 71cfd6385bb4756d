"""The toy vendor's sandbox module: a loopback HTTP emulator of its export API.

An export answers `queued`, then `working`, then `done` (one step per status check); its file
is NDJSON of `USERS`. Requests without the API key get 401. Run as a context manager.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "toy-key"
USERS = [{"id": f"u{n}", "name": f"user {n}"} for n in range(1, 6)]
STEPS = ("queued", "working", "done")


class ToyEmulator:
    """`with ToyEmulator() as toy: toy.url`."""

    def __init__(self) -> None:
        self.checks: dict[str, int] = {}
        self.requests: list[str] = []
        ids = itertools.count(1)
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _route(self, method: str) -> None:
                emulator.requests.append(f"{method} {self.path}")
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    self._send(401, b'{"error": "unauthorized"}')
                    return
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                parts = [p for p in self.path.split("/") if p]
                if method == "POST" and parts == ["exports"]:
                    export_id = f"toy_{next(ids)}"
                    emulator.checks[export_id] = 0
                    self._send(201, json.dumps({"id": export_id}).encode())
                elif method == "GET" and len(parts) == 2 and parts[1] in emulator.checks:
                    step = min(emulator.checks[parts[1]], len(STEPS) - 1)
                    emulator.checks[parts[1]] += 1
                    self._send(200, json.dumps({"status": STEPS[step]}).encode())
                elif method == "GET" and len(parts) == 3 and parts[2] == "file":
                    body = "".join(json.dumps(u) + "\n" for u in USERS).encode()
                    self._send(200, body, "application/x-ndjson")
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ToyEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
