"""HTTP transport shared by the vendor adapters.

One `requests.Session` per vendor and thread (sessions are not thread-safe; the coordinator
polls from its own thread); bounded retries with exponential back-off on 429, 5xx and
connection failures. Only a 429 waits as long as the server asks (`Retry-After`, else
`X-RateLimit-Reset`), at most `MAX_SERVER_WAIT_SECONDS`: Braze stamps its reset (up to an hour
away) on every answer, 5xx included, and a transient 500 must not hold the run until then.
Redirects are never followed automatically; credentials are attached only to requests for the
vendor's API origin.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from tap_profile_export.checks import is_loopback_host
from tap_profile_export.errors import TapProfileExportError, VendorHTTPError
from tap_profile_export.redact import REDACTOR, safe_url
from tap_profile_export.settings import DEFAULT_RETRY, RetrySettings

LOGGER = logging.getLogger("tap_profile_export.http")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
#: The longest a 429 waits for the server's `Retry-After` / `X-RateLimit-Reset` (README).
MAX_SERVER_WAIT_SECONDS = 900.0


def origin_of(url: str) -> str:
    """`scheme://host[:port]`, lower-cased, with default ports made explicit."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


def require_secure_download(url: str, what: str) -> str:
    """`url` if it is https (plain http only on loopback), like the API URLs; else raise.

    Pre-signed links carry their signature in the query: a plain-http one would expose it (and
    the data) on the network. The error names the host only, never the signed URL.
    """
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return url
    raise TapProfileExportError(f"{what}: refusing the download link {safe_url(url)}: "
                                f"pre-signed links must be https:// (plain http only on "
                                f"loopback)")


def server_wait_seconds(response: requests.Response, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait (`Retry-After` or rate-limit reset), if any."""
    now = time.time() if now is None else now
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(retry_after)
            if parsed is not None:
                return max(0.0, parsed.timestamp() - now)
    reset = response.headers.get("X-RateLimit-Reset")  # requests' headers ignore case
    if reset:
        try:
            value = float(reset)
        except ValueError:
            return None
        # Epoch seconds per Braze; small values are read as "seconds from now".
        return max(0.0, value - now) if value > 1e9 else max(0.0, value)
    return None


def vendor_error_text(response: requests.Response) -> str:
    """The vendor's own error message from a JSON or XML body, short and redacted."""
    try:
        body = response.json()
    except ValueError:
        text = response.text[:300] if response.content else ""
        return REDACTOR(" ".join(text.split()))
    if isinstance(body, Mapping):
        parts = [str(body[k]) for k in ("error_code", "error_message", "title", "detail",
                                        "message", "errors") if body.get(k)]
        return REDACTOR("; ".join(parts)[:300])
    return REDACTOR(str(body)[:300])


class HttpClient:
    """Requests with retries and credential scoping for one vendor."""

    def __init__(
        self,
        *,
        vendor: str,
        api_url: str,
        auth_headers: Callable[[], Mapping[str, str]],
        timeout: float,
        retry: RetrySettings = DEFAULT_RETRY,
        max_attempts: int = 6,
        on_unauthorized: Callable[[], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.vendor = vendor
        self.api_origin = origin_of(api_url)
        self._auth_headers = auth_headers
        self.timeout = timeout
        self.retry = retry
        self.max_attempts = max_attempts
        self._on_unauthorized = on_unauthorized
        self._sleep = sleep
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        """This thread's session (created on first use)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = "tap-profile-export"
            # trust_env stays on for REQUESTS_CA_BUNDLE and proxies; a no-op auth stops
            # requests from reading ~/.netrc credentials for any host.
            session.auth = lambda r: r
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def is_api_url(self, url: str) -> bool:
        """True when `url` is on the configured API origin (the only place credentials go)."""
        return origin_of(url) == self.api_origin

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        authenticated: bool = True,
        accept: Collection[int] = (),
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        max_attempts: int | None = None,
    ) -> requests.Response:
        """Send a request, retrying transient failures; return the response.

        2xx and statuses in `accept` are returned; other statuses raise `VendorHTTPError`
        whose message names the vendor and `what`, never a secret or a signed URL.
        """
        if authenticated and not self.is_api_url(url):
            raise TapProfileExportError(
                f"{self.vendor} {what}: refusing to send credentials to {safe_url(url)}, "
                f"which is not the configured API origin {self.api_origin}")
        attempts = max_attempts or self.max_attempts
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            send_headers = dict(headers or {})
            if authenticated:
                send_headers.update(self._auth_headers())
            try:
                response = self.session.request(
                    method, url, json=json, params=params, headers=send_headers, stream=stream,
                    timeout=(min(30.0, self.timeout), self.timeout), allow_redirects=False)
            except TRANSIENT_ERRORS as exc:
                if attempt >= attempts:
                    raise VendorHTTPError(
                        f"{self.vendor} {what}: {type(exc).__name__} after {attempt} attempts "
                        f"({REDACTOR(str(exc))[:200]})") from None
                self._wait_before_retry(what, attempt, attempts, type(exc).__name__, None)
                continue
            status = response.status_code
            if status < 300 or status in accept:
                return response
            if (status == 401 and authenticated and self._on_unauthorized and not refreshed
                    and self._on_unauthorized()):
                refreshed = True
                response.close()
                continue
            if status in RETRY_STATUSES and attempt < attempts:
                # Only a 429 is told how long to wait; Braze's reset on a 5xx is just the end
                # of its rate-limit window, not advice to wait (ordinary back-off instead).
                wait = server_wait_seconds(response) if status == 429 else None
                response.close()
                self._wait_before_retry(what, attempt, attempts, f"HTTP {status}", wait)
                continue
            detail = vendor_error_text(response)
            response.close()
            tail = f" after {attempt} attempts" if status in RETRY_STATUSES else ""
            raise VendorHTTPError(
                f"{self.vendor} {what}: HTTP {status}{tail}" + (f": {detail}" if detail else ""),
                status=status)

    def _wait_before_retry(self, what: str, attempt: int, attempts: int, reason: str,
                           server_wait: float | None) -> None:
        if server_wait is not None:
            delay = min(server_wait, MAX_SERVER_WAIT_SECONDS)
        else:
            delay = self.retry.delay(attempt)
            delay *= random.uniform(0.8, 1.2)
        LOGGER.warning("%s %s: %s, retry %d/%d in %.1fs", self.vendor, what, reason, attempt,
                       attempts - 1, delay)
        self._sleep(delay)

    def close(self) -> None:
        """Close every thread's session."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
