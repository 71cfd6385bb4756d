"""Run a command and record the peak RSS of that process itself (a tiny launcher).

    python -I -S scripts/peak_rss.py RESULT_FILE COMMAND [ARGS...]

Why: `ru_maxrss` of a child counts the high-water mark of the address space it was started
from (fork/vfork copy or share the parent's memory until `exec`, and the kernel keeps that
mark). A tap started straight from a benchmark or pytest process that holds 300 MiB reports
at least 300 MiB. Started from this launcher (a fresh interpreter without site packages, ~10
MiB) it reports its own peak, plus at most the launcher's: `true` through the same launcher
gives that baseline. Same idea as `/usr/bin/time -f %M`, which a fresh machine may lack.

Writes `<peak KiB> <exit status>` to RESULT_FILE and exits with the command's status. stdin,
stdout and stderr are the command's; SIGTERM and SIGINT are passed on to it.
"""

import os
import signal
import sys


def main() -> int:
    result, command = sys.argv[1], sys.argv[2:]
    pid = os.posix_spawnp(command[0], command, os.environ)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda s, _f: os.kill(pid, s))
    while True:
        try:
            _, status, usage = os.wait4(pid, 0)
            break
        except InterruptedError:  # pragma: no cover - wait4 is retried by Python (PEP 475)
            continue
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w") as handle:
        handle.write(f"{usage.ru_maxrss} {code}\n")
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
