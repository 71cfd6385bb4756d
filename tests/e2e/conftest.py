"""End-to-end harness: a real sandbox on loopback and the real tap CLI in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tests.clock import tap_env

TAP_EXECUTABLE = shutil.which("tap-profile-export", path=str(Path(sys.executable).parent)) or \
    "tap-profile-export"


@dataclass
class TapRun:
    """What one CLI run printed."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def records(self, stream: str) -> list[dict[str, Any]]:
        """RECORD payloads of `stream`, in order."""
        return [m["record"] for m in self.messages
                if m.get("type") == "RECORD" and m.get("stream") == stream]

    @property
    def states(self) -> list[dict[str, Any]]:
        """Every STATE value, in order."""
        return [m["value"] for m in self.messages if m.get("type") == "STATE"]

    @property
    def last_state(self) -> dict[str, Any]:
        """The last STATE value (what Meltano would store)."""
        return self.states[-1] if self.states else {}


def partition_state(state: dict[str, Any], stream: str, **context: str) -> dict[str, Any]:
    """The state dict of one partition of `stream` (empty if absent)."""
    for partition in state.get("bookmarks", {}).get(stream, {}).get("partitions", []):
        if partition.get("context") == context:
            return dict(partition)
    return {}


def run_tap(tmp_path: Path, config: dict[str, Any], *, state: dict[str, Any] | None = None,
            catalog: dict[str, Any] | None = None, timeout: float = 180,
            env: dict[str, str] | None = None) -> TapRun:
    """Run `tap-profile-export --config … [--state …]` and parse its stdout."""
    config_path = tmp_path / f"config-{os.urandom(4).hex()}.json"
    config_path.write_text(json.dumps(config))
    args = [TAP_EXECUTABLE, "--config", str(config_path)]
    if state is not None:
        state_path = tmp_path / f"state-{os.urandom(4).hex()}.json"
        state_path.write_text(json.dumps(state))
        args += ["--state", str(state_path)]
    if catalog is not None:
        catalog_path = tmp_path / f"catalog-{os.urandom(4).hex()}.json"
        catalog_path.write_text(json.dumps(catalog))
        args += ["--catalog", str(catalog_path)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **tap_env(), **(env or {})}, check=False)
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return TapRun(proc.returncode, proc.stdout, proc.stderr, messages)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox per test."""
    with Sandbox(seed=7) as sb:
        yield sb


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sandbox_refusals: the test sends requests the vendors refuse (HTTP 400) on "
                   "purpose; the refused-request guard lets them through")


@pytest.fixture(autouse=True)
def no_refused_requests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test whose run made any sandbox answer 400 by its own rules (a request the real
    vendor would refuse), unless the test injected that 400 as a fault or declared it with
    `@pytest.mark.sandbox_refusals` or `sandbox.expect_400()`."""
    Sandbox.refusals.clear()
    yield
    refusals = list(Sandbox.refusals)
    Sandbox.refusals.clear()
    if request.node.get_closest_marker("sandbox_refusals"):
        return
    problems = [f"{r.method} {r.origin}:{r.path} body={r.json!r}"
                for sb, r in refusals if not sb.expecting_400]
    if problems:
        pytest.fail("the sandbox refused request(s) a real vendor would refuse too (HTTP 400):\n"
                    + "\n".join(problems[:10]), pytrace=False)
