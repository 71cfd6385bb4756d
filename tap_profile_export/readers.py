"""Readers: binary stream in, Python dicts out. Pure (no HTTP), streaming, bounded memory.

Formats are sniffed from the first bytes: gzip by its `1f 8b` magic, a JSON array by `[`,
otherwise NDJSON. Corrupt or truncated input raises a `ReaderError` naming the source
(vendor, export, part) and the line or byte offset, never a silent partial read.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterator
from typing import IO, Any, cast

import ijson
import orjson
from isal import igzip, isal_zlib

from tap_profile_export.errors import InvalidJSONError, ReaderError, TruncatedInputError

BUFFER_SIZE = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
_WRAPPER_KEY = re.compile(rb'\s*\{\s*"([^"\\]*)"\s*:')
ZIP_MAGIC = b"PK"
_CORRUPT_COMPRESSION: tuple[type[BaseException], ...] = (
    gzip.BadGzipFile, zlib.error, cast("type[BaseException]", isal_zlib.IsalError),
)


class CountingReader(io.RawIOBase):
    """Wraps a binary stream and counts the bytes read through it (for progress and offsets)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return bool(getattr(self._raw, "seekable", lambda: False)())

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        if hasattr(self._raw, "readinto"):
            n = self._raw.readinto(view) or 0
        else:
            chunk = self._raw.read(len(view))
            n = len(chunk)
            view[:n] = chunk
        self.bytes_read += n
        return n


def buffered(raw: IO[bytes]) -> io.BufferedReader:
    """A peekable buffered reader over `raw`."""
    if isinstance(raw, io.BufferedReader):
        return raw
    return io.BufferedReader(raw if isinstance(raw, io.RawIOBase) else CountingReader(raw),
                             BUFFER_SIZE)


def sniff(stream: io.BufferedReader) -> bytes:
    """The first bytes of `stream`, without consuming them."""
    return stream.peek(4)[:4]


def decompressed(stream: io.BufferedReader) -> IO[bytes]:
    """`stream` itself, or a streaming gzip decoder over it when it starts with gzip magic."""
    if sniff(stream)[:2] == GZIP_MAGIC:
        return cast(IO[bytes], igzip.IGzipFile(fileobj=stream, mode="rb"))
    return stream


def _first_significant_byte(stream: io.BufferedReader) -> bytes:
    head = stream.peek(64)
    stripped = head.lstrip()
    while not stripped and head:
        # Leading whitespace longer than the peek window: consume it and look again.
        stream.read(len(head))
        head = stream.peek(64)
        stripped = head.lstrip()
    return stripped[:1]


def iter_records(raw: IO[bytes], source: str) -> Iterator[dict[str, Any]]:
    """Yield every JSON object of an NDJSON or JSON-array file, gzip or plain.

    `source` names the file in errors, e.g. "batch export export_1 part 2 (file_9)".
    """
    try:
        stream = buffered(decompressed(buffered(raw)))
        if _first_significant_byte(stream) == b"[":
            yield from _iter_json_array(stream, source)
        else:
            yield from _iter_ndjson(stream, source)
    except EOFError:
        raise TruncatedInputError(source, "gzip stream ended early (truncated file?)") from None
    except _CORRUPT_COMPRESSION as exc:
        raise ReaderError(source, f"corrupt compressed data ({exc})") from None


def _iter_ndjson(stream: IO[bytes], source: str) -> Iterator[dict[str, Any]]:
    loads = orjson.loads
    line_no = 0
    try:
        for line_no, line in enumerate(stream, 1):
            try:
                record = loads(line)
            except orjson.JSONDecodeError as exc:
                if not line.strip():
                    continue
                problem = ("line is cut off (truncated file?)" if not line.endswith(b"\n")
                           else f"invalid JSON ({exc})")
                raise InvalidJSONError(source, problem, line=line_no) from None
            if type(record) is not dict:
                raise InvalidJSONError(source, f"expected a JSON object, got "
                                               f"{type(record).__name__}", line=line_no)
            yield record
    except EOFError:
        raise TruncatedInputError(source, "gzip stream ended early (truncated file?)",
                                  line=line_no + 1) from None
    except _CORRUPT_COMPRESSION as exc:
        raise ReaderError(source, f"corrupt compressed data ({exc})", line=line_no + 1) from None


def _iter_json_array(stream: IO[bytes], source: str) -> Iterator[dict[str, Any]]:
    counter = CountingReader(stream)
    index = 0
    try:
        for index, record in enumerate(ijson.items(counter, "item", use_float=True), 1):
            if type(record) is not dict:
                raise InvalidJSONError(source, f"array item {index} is not a JSON object")
            yield record
    except ijson.common.IncompleteJSONError as exc:
        raise InvalidJSONError(source, f"invalid or truncated JSON after item {index} "
                                       f"({str(exc).strip()[:120]})",
                               offset=counter.bytes_read) from None


def iter_object_items(raw: IO[bytes], source: str,
                      wrapped_under: str | None = None) -> Iterator[tuple[str, Any]]:
    """Yield `(key, value)` of the top-level JSON object of one (possibly gzip) document.

    With `wrapped_under="profiles"`, a document shaped `{"profiles": {…}, "metadata": …}`
    is read from its `profiles` object instead (sniffed from the first key).
    """
    counter: CountingReader | None = None
    try:
        counter = CountingReader(decompressed(buffered(raw)))
        stream = io.BufferedReader(counter, BUFFER_SIZE)
        prefix = ""
        if wrapped_under:
            first_key = _WRAPPER_KEY.match(stream.peek(4096))
            if first_key and first_key.group(1).decode() in (wrapped_under, "metadata"):
                prefix = wrapped_under
        yield from ijson.kvitems(stream, prefix, use_float=True)
    except ijson.common.IncompleteJSONError as exc:
        raise InvalidJSONError(source, f"invalid or truncated JSON ({str(exc).strip()[:120]})",
                               offset=counter.bytes_read if counter else 0) from None
    except EOFError:
        raise TruncatedInputError(source, "gzip stream ended early (truncated file?)",
                                  offset=counter.bytes_read if counter else 0) from None
    except _CORRUPT_COMPRESSION as exc:
        raise ReaderError(source, f"corrupt compressed data ({exc})",
                          offset=counter.bytes_read if counter else 0) from None
