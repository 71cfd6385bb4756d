"""Which Braze exports each partition needs: one per scope (segment, control group, ids)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tap_profile_export.exports import (
    ExportRunner,
    ExportSpec,
)
from tap_profile_export.http import HttpClient
from tap_profile_export.settings import TapSettings
from tap_profile_export.vendors.braze.client import BrazeAdapter
from tap_profile_export.vendors.braze.settings import BrazeSettings


class BrazeVendor:
    """Plans one export per scope: each segment, the control group, the ids list."""

    name = "braze"

    def __init__(self, settings: BrazeSettings, tap_settings: TapSettings, now: datetime) -> None:
        self.settings = settings
        http = HttpClient(vendor="braze", api_url=settings.rest_endpoint,
                          timeout=tap_settings.http_timeout,
                          retry=tap_settings.retry,
                          auth_headers=lambda: {"Authorization": f"Bearer {settings.api_key}"})
        self.adapter = BrazeAdapter(settings, http, tap_settings.temp_dir)
        self.runner = ExportRunner(self.adapter, retry=tap_settings.retry)

    def scopes(self) -> list[str]:
        """`segment:<id>` per segment, then `global_control_group`, then `ids`."""
        scopes = [f"segment:{s}" for s in self.settings.segment_ids]
        if self.settings.global_control_group:
            scopes.append("global_control_group")
        if self.settings.ids:
            scopes.append("ids")
        return scopes

    def partitions(self, stream: str) -> list[dict[str, Any]]:
        """One `braze_users` partition per scope."""
        if stream != "braze_users":
            return []
        return [{"export_scope": scope} for scope in self.scopes()]

    def plan(self, stream: str, context: Mapping[str, Any], bookmark: datetime | None,
             exports: Mapping[str, Any]) -> list[ExportSpec]:
        """One export for the partition's scope."""
        scope = str(context["export_scope"])
        kind = scope.split(":", 1)[0]
        return [ExportSpec("braze", stream, kind, scope=scope)]

    def close(self) -> None:
        """Close the HTTP session."""
        self.adapter.http.close()
