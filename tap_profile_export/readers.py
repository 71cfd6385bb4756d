"""Readers: binary stream in, Python dicts out. Pure (no HTTP), streaming, bounded memory.

Formats are sniffed from the first bytes: gzip by its `1f 8b` magic, a JSON array by `[`,
otherwise NDJSON. Corrupt or truncated input raises a `ReaderError` naming the source
(vendor, export, part) and the line or byte offset, never a silent partial read.
"""

from __future__ import annotations

import gzip
import io
import logging
import lzma
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, cast

import ijson
import orjson
from isal import igzip, isal_zlib

from tap_profile_export.errors import InvalidJSONError, ReaderError, TruncatedInputError

LOGGER = logging.getLogger("tap_profile_export.readers")
BUFFER_SIZE = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
_WRAPPER_KEY = re.compile(rb'\s*\{\s*"([^"\\]*)"\s*:')
ZIP_MAGIC = b"PK"
_CORRUPT_COMPRESSION: tuple[type[BaseException], ...] = (
    gzip.BadGzipFile, zlib.error, cast("type[BaseException]", isal_zlib.IsalError),
    zipfile.BadZipFile, lzma.LZMAError,
)
#: What the standard library and the parsers raise on malformed bytes. Network failures
#: (`OSError`, `requests`/`urllib3` errors) are not among them: the runner retries those.
_MALFORMED_INPUT: tuple[type[BaseException], ...] = (
    ValueError, struct.error, KeyError, IndexError, NotImplementedError, RuntimeError,
    OverflowError,
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
    with malformed_input_errors(source):
        stream = buffered(decompressed(buffered(raw)))
        if _first_significant_byte(stream) == b"[":
            yield from _iter_json_array(stream, source)
        else:
            yield from _iter_ndjson(stream, source)


@contextmanager
def malformed_input_errors(source: str, offset: Callable[[], int] | None = None,
                           line: Callable[[], int] | None = None,
                           what: str = "data",
                           also: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn whatever malformed bytes make a parser raise into a `ReaderError` naming `source`,
    `what` was malformed and, when known, the line or byte offset reached. `also` adds
    exception types that mean malformed input for this source only."""
    try:
        yield
    except ReaderError:
        raise
    except EOFError:
        raise TruncatedInputError(source, f"{what} ended early (truncated file?)",
                                  line=line() if line else None,
                                  offset=offset() if offset else None) from None
    except (*_CORRUPT_COMPRESSION, *_MALFORMED_INPUT, *also) as exc:
        raise ReaderError(source, f"corrupt or truncated {what} ({type(exc).__name__}: "
                                  f"{str(exc)[:120]})", line=line() if line else None,
                          offset=offset() if offset else None) from None


def _iter_ndjson(stream: IO[bytes], source: str) -> Iterator[dict[str, Any]]:
    loads = orjson.loads
    line_no = 0
    with malformed_input_errors(source, line=lambda: line_no + 1):
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


def _iter_json_array(stream: IO[bytes], source: str) -> Iterator[dict[str, Any]]:
    counter = CountingReader(stream)
    index = 0
    with malformed_input_errors(source, offset=lambda: counter.bytes_read):
        try:
            for index, record in enumerate(ijson.items(counter, "item", use_float=True), 1):
                if type(record) is not dict:
                    raise InvalidJSONError(source, f"array item {index} is not a JSON object")
                yield record
        except ijson.JSONError as exc:
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

    def offset() -> int:
        return counter.bytes_read if counter else 0

    with malformed_input_errors(source, offset=offset):
        try:
            counter = CountingReader(decompressed(buffered(raw)))
            stream = io.BufferedReader(counter, BUFFER_SIZE)
            prefix = ""
            if wrapped_under:
                first_key = _WRAPPER_KEY.match(stream.peek(4096))
                if first_key and first_key.group(1).decode(errors="replace") in (
                        wrapped_under, "metadata"):
                    prefix = wrapped_under
            yield from ijson.kvitems(stream, prefix, use_float=True)
        except ijson.JSONError as exc:
            raise InvalidJSONError(source, f"invalid or truncated JSON "
                                           f"({str(exc).strip()[:120]})",
                                   offset=offset()) from None


def iter_archive_records(stream: IO[bytes], source: str) -> Iterator[dict[str, Any]]:
    """Yield every JSON object of every member of a ZIP archive of NDJSON files (a seekable
    `stream`); a gzip or plain body is read as one NDJSON file."""
    head = stream.read(2)
    stream.seek(0)
    if not head:
        raise ReaderError(source, "the download is empty (expected a ZIP or gzip archive)")
    if head != ZIP_MAGIC:
        yield from iter_records(stream, source)
        return
    with malformed_input_errors(source, what="ZIP archive"):
        archive = zipfile.ZipFile(stream)
        _check_layout(archive, stream, source)
        members = [info for info in archive.infolist() if not info.filename.endswith("/")]
    with archive:
        for info in members:
            member = f"{source} member {info.filename}"
            count = 0
            # Every member is read to its end, so zipfile checks its size and CRC-32; sizes
            # from the (possibly corrupt) directory are never trusted to skip one.
            # Members are read from a local file: an OSError there is a broken member (the
            # bz2 decoder, for one, reports corrupt data as OSError), not the network.
            with malformed_input_errors(member, what="ZIP member", also=(OSError,)), \
                    archive.open(info) as raw:
                for count, user in enumerate(iter_records(raw, member), 1):  # noqa: B007
                    yield user
            if not count:
                LOGGER.info("%s: empty", member)


def _check_layout(archive: zipfile.ZipFile, stream: IO[bytes], source: str) -> None:
    """Members must tile the file up to the central directory: a corrupt directory that
    lost an entry would otherwise drop that member's users silently."""
    position = min((i.header_offset for i in archive.infolist()), default=archive.start_dir)
    for info in sorted(archive.infolist(), key=lambda i: i.header_offset):
        if info.header_offset != position or info.header_offset < 0:
            raise ReaderError(source, f"corrupt ZIP directory: member {info.filename} is not "
                                      f"where the archive says (offset {info.header_offset})")
        stream.seek(info.header_offset)
        header = stream.read(30)
        if header[:4] != b"PK\x03\x04" or len(header) < 30:
            raise ReaderError(source, f"corrupt ZIP directory: member {info.filename} is not "
                                      f"where the archive says (offset {info.header_offset})")
        name_length = int.from_bytes(header[26:28], "little")
        extra_length = int.from_bytes(header[28:30], "little")
        if stream.read(name_length) != _zip_name_bytes(info):
            # A directory entry whose name was corrupted (say into a "directory") would
            # otherwise be skipped without its users being read.
            raise ReaderError(source, f"corrupt ZIP directory: member {info.filename!r} is "
                                      f"named differently in its own header")
        position = info.header_offset + 30 + name_length + extra_length + info.compress_size
        if info.flag_bits & 0x08:  # a data descriptor follows the data
            stream.seek(position)
            descriptor = stream.read(4)
            large = info.compress_size >= 0xFFFFFFFF or info.file_size >= 0xFFFFFFFF
            position += (4 if descriptor == b"PK\x07\x08" else 0) + (20 if large else 12)
    stream.seek(0)
    if position != archive.start_dir:
        raise ReaderError(source, f"corrupt ZIP directory: {archive.start_dir - position} bytes "
                                  f"between the last member and the directory are unaccounted "
                                  f"for (a member is missing from the directory)")


def _zip_name_bytes(info: zipfile.ZipInfo) -> bytes:
    """A member's name as its local header stores it (UTF-8 when flagged, else CP437)."""
    return info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437",
                                     errors="surrogateescape")
