"""APSIS One OAuth client credentials: tokens cached until shortly before the JWT `exp`,
refreshed once on 401, at most 10 token requests a minute."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections import deque
from typing import Any

from tap_profile_export.errors import TapProfileExportError
from tap_profile_export.http import HttpClient
from tap_profile_export.redact import REDACTOR
from tap_profile_export.vendors.apsis.settings import ApsisSettings

LOGGER = logging.getLogger("tap_profile_export.apsis")

TOKEN_EARLY_REFRESH_SECONDS = 120.0
TOKEN_REQUESTS_PER_MINUTE = 10

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
