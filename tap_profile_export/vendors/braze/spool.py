"""Spooling a Braze ZIP to a temporary file: a ZIP's directory is at its end, so reading its
members needs random access."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from typing import IO, cast

from tap_profile_export.errors import TapProfileExportError
from tap_profile_export.progress import human_bytes

SPOOL_CHUNK = 1 << 20
DISK_MARGIN_BYTES = 64 << 20


def spool(read: Callable[[int], bytes], length: int | None, temp_dir: str | None,
          label: str) -> IO[bytes]:
    """Copy a body (`read(n)` until empty) into an unlinked temporary file, rewound.

    Fails before copying when `length` bytes would not fit in `temp_dir` (naming the setting).
    """
    directory = temp_dir or tempfile.gettempdir()
    free = shutil.disk_usage(directory).free
    if length and length + DISK_MARGIN_BYTES > free:
        raise TapProfileExportError(
            f"{label}: the archive needs {human_bytes(length)} of temporary space but "
            f"{directory} has {human_bytes(free)} free; point temp_dir at a larger disk")
    # Unlinked at once on Linux: nothing is left behind, even after SIGKILL.
    file = tempfile.TemporaryFile(dir=directory, prefix="tap-profile-export-braze-")  # noqa: SIM115
    try:
        while chunk := read(SPOOL_CHUNK):
            file.write(chunk)
        file.seek(0)
    except BaseException:
        file.close()
        raise
    return cast(IO[bytes], file)
