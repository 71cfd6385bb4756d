"""Braze spooling: a download larger than the free temp space fails early, naming the setting;
the spooled body is unlinked (nothing left in temp_dir)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest

from tap_profile_export.errors import TapProfileExportError
from tap_profile_export.exports import ExportSpec
from tap_profile_export.http import HttpClient
from tap_profile_export.settings import parse_settings
from tap_profile_export.vendors.braze.client import BrazeAdapter

SPEC = ExportSpec("braze", "braze_users", "segment", scope="segment:s1")


class FakeRaw(io.BytesIO):
    """Reads like urllib3's raw response (which takes `decode_content`)."""

    def read(self, size: int | None = -1, decode_content: bool = False) -> bytes:  # type: ignore[override]
        return super().read(size)


class FakeResponse:
    def __init__(self, body: bytes, length: int) -> None:
        self.headers = {"Content-Length": str(length)}
        self.raw = FakeRaw(body)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def adapter(tmp_path: Path) -> BrazeAdapter:
    settings = parse_settings({"braze": {"api_key": "k", "rest_endpoint": "https://x.braze.com",
                                         "segment_ids": ["s1"]}}).braze
    assert settings is not None
    http = HttpClient(vendor="braze", api_url=settings.rest_endpoint, auth_headers=dict,
                      timeout=5)
    return BrazeAdapter(settings, http, str(tmp_path))


def test_not_enough_free_space_fails_before_writing(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=10 << 20))
    response = FakeResponse(b"x", 3 << 30)
    with pytest.raises(TapProfileExportError, match=r"needs 3\.2 GB .* point temp_dir"):
        adapter(tmp_path)._spool(SPEC, response)  # type: ignore[arg-type]
    assert response.closed and list(tmp_path.iterdir()) == []


def test_spooled_body_is_readable_and_leaves_no_file(tmp_path: Path) -> None:
    body = b"PK" + b"\x00" * 5000
    spool: Any = adapter(tmp_path)._spool(SPEC, FakeResponse(body, len(body)))  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []  # unlinked at creation
    assert spool.read() == body
    spool.close()
