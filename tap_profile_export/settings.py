"""Tap settings: the JSON schema the SDK validates and the typed, checked view the code uses.

The schema is the tap's own settings plus one block per vendor of the registry
(`vendors/<name>/settings.py`). Every default is the schema's `default` (`schema_default`).
`parse_settings` runs before any HTTP call and raises `SettingError` naming the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from singer_sdk import typing as th

from tap_profile_export.checks import default_of, number
from tap_profile_export.errors import SettingError
from tap_profile_export.vendors import REGISTRY

MAX_EVENTS_LOOKBACK_MINUTES = 1440
#: `activate_version` values (the default is in the schema).
ACTIVATE_VERSION_MODES = ("off", "all_sources", "configured_sources")
#: `type_conformance` values (the default is in the schema).
TYPE_CONFORMANCE_LEVELS = ("recursive", "root_only", "none")

#: The tap's own settings (vendor blocks follow, from the registry).
COMMON_PROPERTIES: tuple[th.Property, ...] = (
    th.Property("start_date", th.DateTimeType,
                description="Earliest event time to sync on a first run (RFC 3339)."),
    th.Property("end_date", th.DateTimeType,
                description="Upper bound for event windows (RFC 3339). Default: now; a "
                            "future end_date counts as now."),
    th.Property("events_lookback_minutes", th.IntegerType, default=120,
                description="Each run re-reads this many minutes before the bookmark of "
                            "every event stream, for events that reach the vendor late; "
                            "0 to 1440. Re-read events are loaded again (primary keys make "
                            "that idempotent)."),
    th.Property(
        "poll",
        th.ObjectType(
            th.Property("initial_interval_seconds", th.NumberType, default=5,
                        description="First wait between readiness checks; doubles each time."),
            th.Property("max_interval_seconds", th.NumberType, default=300,
                        description="Cap for the wait between readiness checks."),
            th.Property("timeout_seconds", th.NumberType, default=14400,
                        description="Give up waiting for one export after this many seconds."),
        ),
        description="How the tap waits for exports to become ready.",
    ),
    th.Property(
        "retry",
        th.ObjectType(
            th.Property("initial_delay_seconds", th.NumberType, default=1,
                        description="First wait before retrying a failed API request or "
                                    "re-opening an interrupted download; doubles each time."),
            th.Property("max_delay_seconds", th.NumberType, default=60,
                        description="Cap for the wait between retries."),
        ),
        description="How the tap retries transient failures (5xx, 429 without a reset time, "
                    "connection errors, interrupted downloads). Separate from `poll`, which "
                    "paces readiness checks.",
    ),
    th.Property("http_timeout_seconds", th.NumberType, default=300,
                description="Socket read timeout for API calls and downloads, in seconds."),
    th.Property("type_conformance", th.StringType, default="root_only",
                allowed_values=list(TYPE_CONFORMANCE_LEVELS),
                description="How much the SDK re-checks record types against the schema: "
                            "'root_only' (default: top-level columns; nested vendor objects "
                            "are already JSON), 'recursive' (the SDK's own default), or "
                            "'none' (fastest)."),
    th.Property("temp_dir", th.StringType,
                description="Directory for spooled archives (default: the system temp dir)."),
    th.Property("activate_version", th.StringType, default="off",
                allowed_values=list(ACTIVATE_VERSION_MODES),
                description="Table versions for the snapshot streams (profiles, braze_users, "
                            "apsis_*), "
                            "so the target marks rows absent from a complete snapshot deleted: "
                            "'off' (default, like the SDK's emit_activate_version_messages: "
                            "false), 'all_sources' (ACTIVATE_VERSION only after a run read "
                            "every source a table can hold: profiles needs Batch and APSIS), "
                            "or 'configured_sources' (every configured source; only when no "
                            "other run writes the same table). Never after a failed or "
                            "partial read. See README 'Deleted profiles'."),
)


def config_schema() -> dict[str, Any]:
    """The whole settings schema: the tap's own settings, then each registered vendor's block."""
    blocks = [entry.block for entry in REGISTRY.values()]
    return th.PropertiesList(*COMMON_PROPERTIES, *blocks).to_dict()


CONFIG_SCHEMA = config_schema()


def schema_default(setting: str) -> Any:
    """The default of a setting (dotted name, e.g. `poll.timeout_seconds`) from the schema:
    the single source of every default (dataclasses and parsers read it here)."""
    return default_of(CONFIG_SCHEMA, setting)


@dataclass(frozen=True)
class PollSettings:
    """Back-off and deadline for waiting on one export."""

    initial_interval: float = float(schema_default("poll.initial_interval_seconds"))
    max_interval: float = float(schema_default("poll.max_interval_seconds"))
    timeout: float = float(schema_default("poll.timeout_seconds"))


@dataclass(frozen=True)
class RetrySettings:
    """Exponential back-off between retries of failed requests and interrupted downloads."""

    initial_delay: float = float(schema_default("retry.initial_delay_seconds"))
    max_delay: float = float(schema_default("retry.max_delay_seconds"))

    def delay(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1-based), without jitter."""
        return min(self.max_delay, self.initial_delay * 2 ** (attempt - 1))


DEFAULT_RETRY = RetrySettings()


@dataclass(frozen=True)
class TapSettings:
    """The whole validated configuration."""

    start_date: datetime | None
    end_date: datetime | None
    poll: PollSettings
    retry: RetrySettings
    http_timeout: float
    temp_dir: str | None
    type_conformance: str
    activate_version: str
    #: Typed settings of each configured vendor (registry name → its block's dataclass).
    vendors: Mapping[str, Any] = field(default_factory=dict)
    #: Overlap each run re-reads before an event stream's bookmark (late-arriving events).
    events_lookback: timedelta = timedelta(minutes=schema_default("events_lookback_minutes"))

    def __getattr__(self, name: str) -> Any:
        """`settings.<vendor>`: that vendor's typed block, or None when it is not configured."""
        if name in REGISTRY:
            return self.vendors.get(name)
        raise AttributeError(name)

    @property
    def secrets(self) -> list[str]:
        """Every secret value configured, for log and error masking."""
        return [value for name, block in self.vendors.items()
                for value in REGISTRY[name].secrets(block)]


def _datetime(config: Mapping[str, Any], key: str) -> datetime | None:
    value = config.get(key)
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise SettingError(key, f"must be an RFC 3339 date-time, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _lookback(config: Mapping[str, Any]) -> timedelta:
    value = config.get("events_lookback_minutes")
    if value is None:
        value = schema_default("events_lookback_minutes")
    if (isinstance(value, bool) or not isinstance(value, int)
            or not 0 <= value <= MAX_EVENTS_LOOKBACK_MINUTES):
        raise SettingError("events_lookback_minutes",
                           f"must be a whole number of minutes from 0 to "
                           f"{MAX_EVENTS_LOOKBACK_MINUTES}, got {value!r}")
    return timedelta(minutes=value)


def _choice(config: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = config.get(key) or schema_default(key)
    if value not in choices:
        raise SettingError(key, f"must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _seconds(block: Mapping[str, Any], setting: str) -> float:
    return number(block, setting, schema_default(setting))


def _block(config: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """The object setting `name` (None when absent), or a `SettingError` naming it."""
    block = config.get(name)
    if block is not None and not isinstance(block, Mapping):
        raise SettingError(name, "must be an object")
    return block


def parse_settings(config: Mapping[str, Any]) -> TapSettings:
    """Check every setting and return the typed view, or raise `SettingError`."""
    poll = _block(config, "poll") or {}
    poll_settings = PollSettings(
        initial_interval=_seconds(poll, "poll.initial_interval_seconds"),
        max_interval=_seconds(poll, "poll.max_interval_seconds"),
        timeout=_seconds(poll, "poll.timeout_seconds"),
    )
    retry = _block(config, "retry") or {}
    retry_settings = RetrySettings(
        initial_delay=_seconds(retry, "retry.initial_delay_seconds"),
        max_delay=_seconds(retry, "retry.max_delay_seconds"),
    )
    start, end = _datetime(config, "start_date"), _datetime(config, "end_date")
    if start and end and start >= end:
        raise SettingError("end_date", "must be later than start_date")
    vendors: dict[str, Any] = {}
    for name, entry in REGISTRY.items():
        block = _block(config, name)
        if block is not None:
            vendors[name] = entry.parse(block)
    return TapSettings(
        start_date=start,
        end_date=end,
        poll=poll_settings,
        retry=retry_settings,
        http_timeout=_seconds(config, "http_timeout_seconds")
        or float(schema_default("http_timeout_seconds")),
        temp_dir=config.get("temp_dir") or None,
        type_conformance=_choice(config, "type_conformance", TYPE_CONFORMANCE_LEVELS),
        activate_version=_choice(config, "activate_version", ACTIVATE_VERSION_MODES),
        events_lookback=_lookback(config),
        vendors=vendors,
    )
