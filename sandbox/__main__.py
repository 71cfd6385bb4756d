"""`python -m sandbox`: run the vendor emulator until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from sandbox.core import Sandbox


def main(argv: list[str] | None = None) -> int:
    """Start the sandbox, print its URLs (and optionally a tap config), serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-port", type=int, default=8750)
    parser.add_argument("--download-port", type=int, default=8751)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-profiles", type=int)
    parser.add_argument("--batch-events", type=int)
    parser.add_argument("--batch-reachability-events", type=int)
    parser.add_argument("--apsis-profiles", type=int)
    parser.add_argument("--braze-users", type=int)
    parser.add_argument("--ready-after-seconds", type=float,
                        help="every export becomes ready this many seconds after creation")
    parser.add_argument("--s3-port", type=int,
                        help="also serve the S3 API (moto, IAM enforced) on this port and print "
                             "its endpoint and users' keys as one `s3={json}` line on stderr")
    parser.add_argument("--print-config", action="store_true",
                        help="print a tap config for this sandbox as one JSON line on stdout")
    args = parser.parse_args(argv)

    sandbox = Sandbox(args.seed, api_port=args.api_port, download_port=args.download_port,
                      host=args.host, real_time=True, s3_port=args.s3_port or 0)
    for name, target, attribute in (
            ("batch_profiles", sandbox.batch, "profiles"),
            ("batch_events", sandbox.batch, "events"),
            ("batch_reachability_events", sandbox.batch, "reachability_events"),
            ("apsis_profiles", sandbox.apsis, "profiles"),
            ("braze_users", sandbox.braze, "users")):
        value = getattr(args, name)
        if value is not None:
            setattr(target, attribute, value)
    if args.ready_after_seconds is not None:
        for scenario in (sandbox.batch, sandbox.apsis, sandbox.braze):
            scenario.ready_after_seconds = args.ready_after_seconds
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with sandbox:
        if args.s3_port is not None:
            print(f"s3={json.dumps(s3_description(sandbox.s3))}", file=sys.stderr, flush=True)
        print(f"sandbox api={sandbox.api_url} downloads={sandbox.download_url}",
              file=sys.stderr, flush=True)
        if args.print_config:
            print(json.dumps(sandbox.tap_config()), flush=True)
        stop.wait()
    return 0


def s3_description(store: Any) -> dict[str, Any]:
    """The S3 store's endpoint and every user's AWS environment (moto's keys, not secrets:
    they exist only in this process). Printed before `sandbox api=`, which scripts wait for."""
    return {"endpoint_url": store.endpoint_url,
            "users": {name: creds.env() for name, creds in store.users.items()}}


if __name__ == "__main__":
    sys.exit(main())
