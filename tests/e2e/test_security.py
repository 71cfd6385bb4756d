"""Secrets, tokens and signed URLs never reach logs, errors or state — even at DEBUG, with
every library logger on — and credentials only ever go to the configured API origin."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sandbox import Sandbox
from tap_profile_export.windows import to_rfc3339

from .conftest import run_tap


def test_debug_logs_and_state_hold_no_secret(sandbox: Sandbox, tmp_path: Path) -> None:
    config = sandbox.tap_config()
    config["start_date"] = to_rfc3339(sandbox.anchor - timedelta(days=7))
    config["end_date"] = to_rfc3339(sandbox.anchor)
    config["braze"]["external_ids"] = []
    sandbox.batch.expire_links_once = True  # refused links get logged: they must be masked
    run = run_tap(tmp_path, config, env={"LOGLEVEL": "DEBUG"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "DEBUG" in run.stderr and "urllib3" in run.stderr  # library loggers really ran

    sent_tokens = {r.headers["authorization"].removeprefix("Bearer ")
                   for r in sandbox.requests() if "authorization" in r.headers}
    secrets = {config["batch"]["api_key"], config["apsis"]["client_secret"],
               config["braze"]["api_key"], *sent_tokens}
    state_text = str(run.states)
    for secret in secrets:
        assert secret not in run.stderr, "a secret reached the log"
        assert secret not in state_text, "a secret reached the state"
    assert not re.search(r"Signature=[0-9a-f]", run.stderr), "a signed URL reached the log"
    for state in run.states:  # only Braze keeps its pre-signed link (it needs it to resume)
        for stream, bookmark in state.get("bookmarks", {}).items():
            if stream != "braze_users":
                assert "Signature=" not in str(bookmark)


def test_credentials_only_reach_the_api_origin(sandbox: Sandbox, tmp_path: Path) -> None:
    config = sandbox.tap_config()
    config["start_date"] = to_rfc3339(sandbox.anchor - timedelta(days=7))
    config["end_date"] = to_rfc3339(sandbox.anchor)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    downloads = [r for r in sandbox.requests() if r.origin == "download"]
    assert downloads
    for request in downloads:
        assert not {"authorization", "x-batch-project"} & set(request.headers)
    token_bodies = [r for r in sandbox.requests() if r.path == "/oauth/token"]
    assert token_bodies and all(r.origin == "api" for r in token_bodies)
