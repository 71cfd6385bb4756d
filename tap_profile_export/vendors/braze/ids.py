"""Braze's synchronous ids export at run time: one paced request per part, its answer read.

Every request of `IdsSelectors.requests()` is one export part, so a killed run resumes after
the last request it read. Its state holds the request count and a digest, never an identifier.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson

from tap_profile_export.errors import InvalidJSONError, ReaderError, VendorHTTPError
from tap_profile_export.exports import ExportPart, InFlightExport
from tap_profile_export.http import HttpClient
from tap_profile_export.vendors.braze.records import map_user
from tap_profile_export.vendors.braze.selectors import IdsSelectors, unmatched_text

LOGGER = logging.getLogger("tap_profile_export.braze")
PATH = "/users/export/ids"
#: The lowest limit Braze documents for this endpoint (workspaces onboarded since
#: 2024-08-22; older ones have 2,500 a minute).
REQUESTS_PER_MINUTE = 250


class RequestPacer:
    """At most `limit` requests in any `period` seconds (a sliding window, this run)."""

    def __init__(self, limit: int = REQUESTS_PER_MINUTE, period: float = 60.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limit = limit
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until one more request fits in the window, then count it."""
        with self._lock:
            now = self._clock()
            while self._sent and now - self._sent[0] >= self.period:
                self._sent.popleft()
            if len(self._sent) >= self.limit:
                delay = self._sent[0] + self.period - now
                LOGGER.info("braze ids export: %d requests in the last %.0fs (Braze allows "
                            "%d); waiting %.1fs", len(self._sent), self.period, self.limit,
                            delay)
                self._sleep(delay)
                self._sent.popleft()
                now = self._clock()
            self._sent.append(now)


class IdsExport:
    """The ids export of one run: its parts, their requests and what the answers held.

    `fetch(part)` and `read(...)` of one part run one after the other in the reading stream's
    thread; `read` reports on the request `fetch` sent last.
    """

    def __init__(self, selectors: IdsSelectors, http: HttpClient, url: str,
                 fields_to_export: Callable[[], list[str]], digest_key: str,
                 pacer: RequestPacer | None = None) -> None:
        self.requests = selectors.requests()
        self.digest = selectors.digest(digest_key)
        self.http = http
        self.url = url
        self._fields = fields_to_export
        self._pacer = pacer or RequestPacer()
        #: Number of the request `fetch` sent last.
        self._current = 0
        #: Request number → unmatched counts (a part read again overwrites its own).
        self._unmatched: dict[int, dict[str, int]] = {}
        self._seen: set[str] = set()

    def handle(self) -> dict[str, Any]:
        """The state of a new ids export: no identifier, only the request count and digest."""
        return {"export_id": "ids", "chunks": len(self.requests), "digest": self.digest}

    def parts(self) -> list[ExportPart]:
        """One part per request."""
        total = len(self.requests)
        return [ExportPart(key=f"request-{n}", label=request.label(n, total), ref=n)
                for n, request in enumerate(self.requests, 1)]

    def resume_problem(self, entry: InFlightExport) -> str | None:
        """An ids export resumes only for the same configured selectors (same digest)."""
        if entry.handle.get("digest") != self.digest:
            return "the configured ids selectors changed since it was started; starting over"
        return None

    def fetch(self, part: ExportPart) -> IO[bytes]:
        """POST the part's request (paced) and return the answer's bytes."""
        self._current = part.ref
        request = self.requests[part.ref - 1]
        what = f"ids export {part.label}"
        self._pacer.wait()
        try:
            response = self.http.request("POST", self.url, what=what,
                                         json={**request.body,
                                               "fields_to_export": self._fields()})
        except VendorHTTPError as exc:
            # The label stays readable; the vendor's words lose any identifier they quote.
            text = str(exc)
            head, sep, rest = text.partition(f"{what}: ")
            masked = head + sep + request.mask(rest) if sep else request.mask(text)
            raise VendorHTTPError(masked, status=exc.status) from None
        return io.BytesIO(response.content)

    def read(self, label: str, entry: InFlightExport, stream: IO[bytes], source: str,
             exported_at: str) -> Iterator[dict[str, Any]]:
        """Users of the answer to the request `fetch` sent, once per run each; after the last
        request, one warning with the count of identifiers that matched no user."""
        try:
            answer = orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            raise InvalidJSONError(source, f"answer is not JSON ({exc})") from None
        if not isinstance(answer, dict):
            raise InvalidJSONError(source, "answer is not a JSON object")
        if self._current:
            self._unmatched[self._current] = self.requests[self._current - 1].unmatched(answer)
        found: set[str] = set()
        for user in answer.get("users") or []:
            braze_id = user.get("braze_id")
            if not isinstance(braze_id, str) or not braze_id:
                raise ReaderError(source, "a user has no braze_id")
            if braze_id in self._seen or braze_id in found:
                continue  # matched by another identifier too
            found.add(braze_id)
            yield map_user(user, "ids", exported_at)
        self._seen |= found  # only once the part was read whole
        if len(entry.parts_done) + 1 >= len(self.requests):
            self._report(label)

    def _report(self, label: str) -> None:
        counts: dict[str, int] = {}
        for part in self._unmatched.values():
            for setting, count in part.items():
                counts[setting] = counts.get(setting, 0) + count
        if counts:
            LOGGER.warning("%s: Braze matched no user for %s", label, unmatched_text(counts))
