"""Exact "seen before?" for ids with bounded memory: a set up to a threshold, then a
temporary SQLite B-tree on disk (for de-duplicating exports of millions of users)."""

from __future__ import annotations

import os
import sqlite3
import tempfile

DEFAULT_MEMORY_IDS = 100_000


class SeenIds:
    """`add(id)` is True the first time an id is added, False after. Memory stays bounded:
    beyond `memory_ids` ids they move to an unlinked SQLite file in `directory` (~40 bytes of
    disk per id)."""

    def __init__(self, directory: str | None = None, memory_ids: int = DEFAULT_MEMORY_IDS) -> None:
        self._memory: set[str] | None = set()
        self._limit = memory_ids
        self._directory = directory
        self._db: sqlite3.Connection | None = None

    def add(self, value: str) -> bool:
        """Record `value`; whether it was new."""
        memory = self._memory
        if memory is not None:
            if value in memory:
                return False
            memory.add(value)
            if len(memory) > self._limit:
                self._spill()
            return True
        assert self._db is not None
        return self._db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (value,)).rowcount == 1

    def _spill(self) -> None:
        descriptor, path = tempfile.mkstemp(dir=self._directory, suffix=".sqlite",
                                            prefix="tap-profile-export-ids-")
        os.close(descriptor)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-4096")  # 4 MiB
        db.execute("CREATE TABLE seen (id TEXT PRIMARY KEY) WITHOUT ROWID")
        os.unlink(path)  # SQLite keeps its open file: nothing is left behind, even on SIGKILL
        db.execute("BEGIN")
        assert self._memory is not None
        db.executemany("INSERT INTO seen VALUES (?)", ((v,) for v in sorted(self._memory)))
        self._memory = None
        self._db = db

    def close(self) -> None:
        """Drop everything (the SQLite file is deleted)."""
        self._memory = set()
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> SeenIds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
