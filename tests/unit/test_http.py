"""HTTP transport: retries, Retry-After / rate-limit reset, credential scoping, error text."""

from __future__ import annotations

import time

import pytest
import requests
import requests_mock

from tap_profile_export.errors import TapProfileExportError, VendorHTTPError
from tap_profile_export.http import HttpClient, server_wait_seconds
from tap_profile_export.settings import RetrySettings

API = "https://api.example.com"


def client(sleeps: list[float], **kw) -> HttpClient:
    return HttpClient(vendor="batch", api_url=API, timeout=5, retry=RetrySettings(0.5),
                      auth_headers=lambda: {"Authorization": "Bearer sekrit"},
                      sleep=sleeps.append, **kw)


def test_retries_5xx_then_succeeds_with_growing_backoff() -> None:
    sleeps: list[float] = []
    with requests_mock.Mocker() as m:
        m.get(f"{API}/x", [{"status_code": 503}, {"status_code": 502}, {"json": {"ok": 1}}])
        assert client(sleeps).request("GET", f"{API}/x", what="view").json() == {"ok": 1}
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]


def test_retry_after_is_honoured() -> None:
    sleeps: list[float] = []
    with requests_mock.Mocker() as m:
        m.post(f"{API}/x", [{"status_code": 429, "headers": {"Retry-After": "7"}},
                            {"status_code": 202, "json": {}}])
        client(sleeps).request("POST", f"{API}/x", what="create")
    assert sleeps == [7.0]


def test_rate_limit_reset_header_epoch_seconds() -> None:
    sleeps: list[float] = []
    reset = str(int(time.time()) + 3)
    with requests_mock.Mocker() as m:
        m.post(f"{API}/x", [{"status_code": 429, "headers": {"x-ratelimit-reset": reset}},
                            {"json": {}}])
        client(sleeps).request("POST", f"{API}/x", what="create")
    assert 1.5 <= sleeps[0] <= 3.5


def test_gives_up_after_bounded_attempts_naming_vendor_and_call() -> None:
    sleeps: list[float] = []
    with requests_mock.Mocker() as m:
        m.get(f"{API}/x", status_code=500, json={"error_code": "E", "error_message": "boom"})
        with pytest.raises(VendorHTTPError, match=r"batch view: HTTP 500 after 3 attempts: E; boom"):
            client(sleeps, max_attempts=3).request("GET", f"{API}/x", what="view")
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", [400, 401, 403])
def test_client_errors_are_not_retried(status: int) -> None:
    with requests_mock.Mocker() as m:
        m.get(f"{API}/x", status_code=status, json={"error_message": "nope"})
        with pytest.raises(VendorHTTPError, match=f"HTTP {status}: nope"):
            client([]).request("GET", f"{API}/x", what="view")
        assert m.call_count == 1


def test_connection_errors_are_retried() -> None:
    sleeps: list[float] = []
    with requests_mock.Mocker() as m:
        m.get(f"{API}/x", [{"exc": requests.ConnectionError("reset")}, {"json": {}}])
        client(sleeps).request("GET", f"{API}/x", what="view")
    assert len(sleeps) == 1


def test_credentials_only_to_api_origin() -> None:
    with requests_mock.Mocker() as m:
        m.get("https://storage.example.net/f", content=b"data")
        c = client([])
        with pytest.raises(TapProfileExportError, match="refusing to send credentials"):
            c.request("GET", "https://storage.example.net/f?sig=abc", what="download")
        c.request("GET", "https://storage.example.net/f?sig=abc", what="download",
                  authenticated=False)
        assert "Authorization" not in m.last_request.headers
        assert m.call_count == 1


def test_redirects_are_not_followed() -> None:
    with requests_mock.Mocker() as m:
        m.get(f"{API}/d", status_code=307, headers={"Location": "https://storage.example.net/f"})
        response = client([]).request("GET", f"{API}/d", what="link", accept=(307,))
        assert response.status_code == 307 and m.call_count == 1


def test_refresh_on_401_once() -> None:
    tokens = iter(["old", "new"])
    current = {"token": next(tokens)}

    def refresh() -> bool:
        current["token"] = next(tokens)
        return True

    with requests_mock.Mocker() as m:
        m.get(f"{API}/x", [{"status_code": 401}, {"json": {}}])
        c = HttpClient(vendor="apsis", api_url=API, timeout=5, sleep=lambda s: None,
                       auth_headers=lambda: {"Authorization": f"Bearer {current['token']}"},
                       on_unauthorized=refresh)
        c.request("GET", f"{API}/x", what="poll")
        assert [r.headers["Authorization"] for r in m.request_history] == ["Bearer old",
                                                                           "Bearer new"]


def test_server_wait_http_date() -> None:
    response = requests.Response()
    response.headers["Retry-After"] = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert server_wait_seconds(response) == 0.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_far_rate_limit_reset_on_a_5xx_uses_ordinary_backoff(status: int) -> None:
    # Braze stamps X-RateLimit-Reset (up to the end of the hour) on every answer, 5xx too.
    sleeps: list[float] = []
    far = str(int(time.time()) + 3500)
    with requests_mock.Mocker() as m:
        m.post(f"{API}/x", [{"status_code": status, "headers": {"X-RateLimit-Reset": far,
                                                                "Retry-After": "3500"}},
                            {"json": {}}])
        client(sleeps).request("POST", f"{API}/x", what="create")
    assert len(sleeps) == 1 and sleeps[0] < 1.0


def test_429_waits_until_reset_bounded_by_the_documented_maximum() -> None:
    from tap_profile_export.http import MAX_SERVER_WAIT_SECONDS
    sleeps: list[float] = []
    with requests_mock.Mocker() as m:
        m.post(f"{API}/x", [{"status_code": 429,
                             "headers": {"X-RateLimit-Reset": str(int(time.time()) + 7200)}},
                            {"json": {}}])
        client(sleeps).request("POST", f"{API}/x", what="create")
    assert sleeps == [MAX_SERVER_WAIT_SECONDS]


@pytest.mark.parametrize("url,ok", [
    ("https://s3.amazonaws.com/b/k?X-Amz-Signature=abc", True),
    ("http://127.0.0.1:8751/files/x?Signature=abc", True),
    ("http://localhost/x", True),
    ("http://storage.example.com/x?Signature=abc", False),
    ("ftp://storage.example.com/x", False),
    ("https:///no-host", False),
])
def test_pre_signed_links_must_be_https_except_loopback(url: str, ok: bool) -> None:
    from tap_profile_export.http import require_secure_download
    if ok:
        assert require_secure_download(url, "batch download") == url
    else:
        with pytest.raises(TapProfileExportError) as info:
            require_secure_download(url, "batch download")
        assert "must be https" in str(info.value) and "Signature" not in str(info.value)


def test_one_session_per_thread() -> None:
    import threading
    http = client([])
    seen = [http.session]
    worker = threading.Thread(target=lambda: seen.append(http.session))
    worker.start()
    worker.join()
    assert seen[0] is http.session and seen[1] is not seen[0]
    http.close()
