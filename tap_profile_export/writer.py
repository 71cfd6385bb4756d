"""Singer output: msgspec encoding, RECORD lines batched, everything else flushed at once."""

from __future__ import annotations

import sys

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import Message, RecordMessage

FLUSH_BYTES = 1 << 20


class BufferedMsgSpecWriter(MsgSpecWriter):
    """`MsgSpecWriter` flushes stdout after every message (a syscall per record, and under
    `PYTHONUNBUFFERED=1` one unbuffered write each). This writer batches RECORD lines up to
    1 MiB and writes SCHEMA/STATE/other messages (and everything before them) immediately,
    so a STATE line never reaches stdout before the records it covers, nor late."""

    def __init__(self) -> None:
        super().__init__()
        #: RECORD lines not written yet. `recordpath.FastRecordPath` appends its lines here
        #: (and calls `flush` past FLUSH_BYTES), so every message keeps its place.
        self.pending = bytearray()

    def write_message(self, message: Message) -> None:
        """Queue a RECORD; write anything else (and the queue before it) now."""
        self.pending += self.format_message(message)
        if not isinstance(message, RecordMessage) or len(self.pending) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write queued lines to stdout."""
        if self.pending:
            out = sys.stdout.buffer
            out.write(self.pending)
            out.flush()
            self.pending.clear()
