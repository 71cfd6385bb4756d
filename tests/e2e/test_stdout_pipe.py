"""The tap widens the pipe on its stdout (the one `meltano run` puts between tap and target)
to 1 MiB, writes the same messages into a pipe as into a file, and runs where the pipe cannot
be widened."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tap_profile_export.windows import to_rfc3339
from tap_profile_export.writer import BufferedMsgSpecWriter, widen_stdout_pipe
from tests.clock import tap_env

from .conftest import TAP_EXECUTABLE

F_GETPIPE_SZ, F_SETPIPE_SZ = fcntl.F_GETPIPE_SZ, fcntl.F_SETPIPE_SZ


def batch_config(sb: Sandbox) -> dict[str, Any]:
    config = {k: v for k, v in sb.tap_config().items() if k not in {"apsis", "braze"}}
    config["start_date"] = to_rfc3339(sb.anchor - timedelta(days=3))
    config["end_date"] = to_rfc3339(sb.anchor)
    return config


def run_into(stdout: int, config_path: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([TAP_EXECUTABLE, "--config", str(config_path)], stdout=stdout,
                          stderr=subprocess.PIPE, env={**os.environ, **tap_env()}, timeout=120,
                          check=False)


def run_into_pipe(config_path: Path) -> tuple[bytes, int, int]:
    """(stdout, pipe size before, pipe size after) of one run writing into a fresh pipe."""
    read_end, write_end = os.pipe()
    before = fcntl.fcntl(read_end, F_GETPIPE_SZ)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(
        lambda: os.read(read_end, 1 << 16), b"")))
    reader.start()
    try:
        proc = run_into(write_end, config_path)
    finally:
        os.close(write_end)
        reader.join(timeout=60)
    after = fcntl.fcntl(read_end, F_GETPIPE_SZ)
    os.close(read_end)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return b"".join(chunks), before, after


def comparable(output: bytes) -> tuple[list[dict[str, Any]], int]:
    """The messages but STATE, and the number of STATE messages, without what depends on when
    the run was (`time_extracted`; `exported_at`, the export's creation on the sandbox's
    running clock; STATE signposts, the SDK's real clock)."""
    messages = [json.loads(line) for line in output.splitlines()]
    for message in messages:
        message.pop("time_extracted", None)
        message.get("record", {}).pop("exported_at", None)
    return ([m for m in messages if m["type"] != "STATE"],
            sum(m["type"] == "STATE" for m in messages))


def test_stdout_pipe_is_widened_and_carries_what_a_file_gets(sandbox: Sandbox,
                                                             tmp_path: Path) -> None:
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(batch_config(sandbox)))
    piped, before, after = run_into_pipe(config_path)
    assert before == 64 * 1024  # Linux's default: the run, not the pipe, changed it
    assert after == 1 << 20
    out_file = tmp_path / "stdout.jsonl"
    with out_file.open("wb") as handle:
        proc = run_into(handle.fileno(), config_path)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    from_pipe, from_file = comparable(piped), comparable(out_file.read_bytes())
    records = [m for m in from_pipe[0] if m["type"] == "RECORD"]
    assert len(records) > 100 and {m["stream"] for m in records} >= {"events", "profiles"}
    assert from_pipe == from_file


def test_a_refused_size_leaves_the_pipe_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over `pipe-max-size` or the user's pipe quota the kernel answers EPERM: the writer is
    built all the same and the pipe keeps its size."""
    read_end, write_end = os.pipe()
    calls: list[int] = []

    def refuse(fd: int, command: int, arg: int = 0) -> int:
        calls.append(command)
        raise PermissionError(1, "Operation not permitted")

    try:
        with os.fdopen(write_end, "w", closefd=False) as pipe_out:
            monkeypatch.setattr(sys, "stdout", pipe_out)
            monkeypatch.setattr(fcntl, "fcntl", refuse)
            assert widen_stdout_pipe() is None
            BufferedMsgSpecWriter()
        monkeypatch.undo()
        assert calls == [F_SETPIPE_SZ, F_SETPIPE_SZ]
        assert fcntl.fcntl(read_end, F_GETPIPE_SZ) == 64 * 1024
    finally:
        os.close(read_end)
        os.close(write_end)


WIDEN = ("import sys; from tap_profile_export.writer import widen_stdout_pipe; "
         "sys.stderr.write(repr(widen_stdout_pipe()))")


def test_stdout_that_is_not_a_pipe_is_left_alone(tmp_path: Path) -> None:
    with (tmp_path / "out").open("wb") as handle:
        proc = subprocess.run([sys.executable, "-c", WIDEN], stdout=handle,
                              stderr=subprocess.PIPE, text=True, timeout=60, check=True)
    assert proc.stderr == "None"
