"""Bounded-memory de-duplication: exact before and after spilling to SQLite, no files left."""

from __future__ import annotations

from pathlib import Path

from tap_profile_export.seen import SeenIds


def test_exact_across_the_spill_and_leaves_no_file(tmp_path: Path) -> None:
    ids = [f"{n:024x}" for n in range(2500)]
    with SeenIds(str(tmp_path), memory_ids=1000) as seen:
        assert all(seen.add(i) for i in ids)  # spills at 1001
        assert seen._memory is None and list(tmp_path.iterdir()) == []
        assert not any(seen.add(i) for i in ids[::7])
        assert seen.add("not-hex-at-all")
        assert not seen.add("not-hex-at-all")
    assert list(tmp_path.iterdir()) == []


def test_small_sets_stay_in_memory(tmp_path: Path) -> None:
    seen = SeenIds(str(tmp_path), memory_ids=10)
    assert seen.add("a") and not seen.add("a") and seen._db is None
