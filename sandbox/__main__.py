"""`python -m sandbox`: run the vendor emulator until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

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
    parser.add_argument("--print-config", action="store_true",
                        help="print a tap config for this sandbox as one JSON line on stdout")
    args = parser.parse_args(argv)

    sandbox = Sandbox(args.seed, api_port=args.api_port, download_port=args.download_port,
                      host=args.host, real_time=True)
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
        print(f"sandbox api={sandbox.api_url} downloads={sandbox.download_url}",
              file=sys.stderr, flush=True)
        if args.print_config:
            print(json.dumps(sandbox.tap_config()), flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
