"""Braze emulation (placeholder until its protocol lands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_profile_export.sandbox.core import Route

if TYPE_CHECKING:
    from tap_profile_export.sandbox.core import Sandbox


@dataclass
class BrazeScenario:
    """Data sizes, timing and faults of the Braze emulation."""

    ready_after: int = 1


class BrazeSim:
    """Routes and state of the Braze emulation."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.scenario = BrazeScenario()

    def reset(self) -> None:
        """Back to defaults."""
        self.scenario = BrazeScenario()

    def tap_config(self) -> dict[str, Any]:
        """The config block for this vendor."""
        return {}

    def routes(self) -> list[Route]:
        """No routes yet."""
        return []
