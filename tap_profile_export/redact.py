"""Masking of secrets, bearer tokens and signed-URL query strings in text and log records."""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# A query string (`?k=v…`) right after a URL or a request path, as urllib3 logs them.
_QUERY = re.compile(r"(?<=[\w/.~%-])\?[^\s\"'<>?]*=[^\s\"'<>]*")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")


class Redactor:
    """Knows the secrets of this run and removes them (and URL query strings) from text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *secrets: str | None) -> None:
        """Register secret values (API keys, client secrets, OAuth tokens)."""
        with self._lock:
            added = {s for s in secrets if s and len(s) >= 4} - self._secrets
            if not added:
                return
            self._secrets |= added
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __call__(self, text: str) -> str:
        """Return `text` with every known secret, bearer token and URL query masked."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        if "?" in text:
            text = _QUERY.sub(f"?{MASK}", text)
        if "earer" in text:
            text = _BEARER.sub(rf"\1 {MASK}", text)
        return text


def safe_url(url: str) -> str:
    """A URL fit for logs and errors: scheme, host and path, without query or fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and exception text through a `Redactor`."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops it."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = str(record.msg)
        record.msg, record.args = self.redactor(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        return True


#: The process-wide redactor: the tap registers its secrets here, logs and errors use it.
REDACTOR = Redactor()


def install_log_redaction(redactor: Redactor = REDACTOR) -> None:
    """Mask every log record of every logger (library loggers at DEBUG included).

    The record factory masks messages when records are created; the handler filters also
    mask exception tracebacks, which are only formatted when a handler emits them.
    """
    base_factory = logging.getLogRecordFactory()
    if not getattr(base_factory, "_tap_redacting", False):
        record_filter = RedactingFilter(redactor)

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = base_factory(*args, **kwargs)
            record_filter.filter(record)
            return record

        factory._tap_redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
    handler_filter = RedactingFilter(redactor)
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(handler_filter)
