"""Apsis emulation (placeholder until its protocol lands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_profile_export.sandbox.core import Route

if TYPE_CHECKING:
    from tap_profile_export.sandbox.core import Sandbox


@dataclass
class ApsisScenario:
    """Data sizes, timing and faults of the Apsis emulation."""

    ready_after: int = 1


class ApsisSim:
    """Routes and state of the Apsis emulation."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.scenario = ApsisScenario()

    def reset(self) -> None:
        """Back to defaults."""
        self.scenario = ApsisScenario()

    def tap_config(self) -> dict[str, Any]:
        """The config block for this vendor."""
        return {}

    def routes(self) -> list[Route]:
        """No routes yet."""
        return []
