"""Suite-wide settings: Hypothesis profiles, and one clock for every test.

No test reads the machine's date: the sandbox's data ends at a fixed anchor day
(`sandbox.timeline`, moved with `SANDBOX_ANCHOR`) and every tap a test starts, in a subprocess
or in process, runs on the same simulated clock through `TAP_PROFILE_EXPORT_NOW`.

`make test` and CI use the derandomized `ci` profile: the same examples on every run, so a
submission never fails for a case it did not touch. `make fuzz` loads `fuzz` (fresh randomness,
a large budget) to look for new bugs on purpose; keep every case it finds as an `@example`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from sandbox.timeline import ANCHOR_ENV, anchor_from_env
from tests.clock import tap_env

settings.register_profile(
    "ci", derandomize=True, database=None, max_examples=200, deadline=None,
    suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile(
    "fuzz", derandomize=False, max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20000")),
    deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def tap_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every tap this test starts runs on the sandbox's simulated clock."""
    for name, value in tap_env().items():
        monkeypatch.setenv(name, value)
    yield


def pytest_configure(config: pytest.Config) -> None:
    """Taps run in process (the SDK's standard tests, set up before any test fixture) read
    the simulated clock too."""
    os.environ.update(tap_env())


def pytest_report_header(config: pytest.Config) -> str:
    """Which day the suite runs as."""
    return f"sandbox anchor: {anchor_from_env():%Y-%m-%d} ({ANCHOR_ENV} moves it)"
