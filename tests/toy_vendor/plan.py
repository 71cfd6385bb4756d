"""Which toy exports each partition needs: one profiles snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tap_profile_export.exports import ExportRunner, ExportSpec
from tap_profile_export.http import HttpClient
from tap_profile_export.settings import TapSettings
from tests.toy_vendor.client import ToyAdapter
from tests.toy_vendor.settings import ToySettings


class ToyVendor:
    """Feeds `profiles` with one partition."""

    name = "toy"

    def __init__(self, settings: ToySettings, tap_settings: TapSettings, now: datetime) -> None:
        http = HttpClient(vendor="toy", api_url=settings.api_url,
                          timeout=tap_settings.http_timeout, retry=tap_settings.retry,
                          auth_headers=lambda: {"Authorization": f"Bearer {settings.api_key}"})
        self.adapter = ToyAdapter(settings, http)
        self.runner = ExportRunner(self.adapter, retry=tap_settings.retry)

    def partitions(self, stream: str) -> list[dict[str, Any]]:
        return [{"source": "toy"}] if stream == "profiles" else []

    def plan(self, stream: str, context: Mapping[str, Any], bookmark: datetime | None,
             exports: Mapping[str, Any]) -> list[ExportSpec]:
        return [ExportSpec("toy", stream, "profiles")]

    def close(self) -> None:
        self.adapter.http.close()
