"""The one clock of a test run: the sandbox's simulated wall clock, handed to every tap."""

from __future__ import annotations

from sandbox.timeline import WORLD
from tap_profile_export.windows import CLOCK_ENV, to_rfc3339


def tap_env() -> dict[str, str]:
    """Environment that starts a tap on the sandbox's clock (added to every tap run)."""
    return {CLOCK_ENV: to_rfc3339(WORLD.now())}
