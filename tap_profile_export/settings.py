"""Tap settings: the JSON schema the SDK validates and the typed, checked view the code uses.

`parse_settings` runs before any HTTP call and raises `SettingError` naming the setting.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_profile_export.errors import SettingError

APSIS_MAX_ATTRIBUTES = 75
APSIS_MAX_TAGS = 25
APSIS_MAX_WINDOW_DAYS = 92
MAX_EVENTS_LOOKBACK_MINUTES = 1440
BRAZE_MAX_CUSTOM_ATTRIBUTES = 500

#: The valid `fields_to_export` of each Braze export endpoint, exactly as its reference page
#: lists them (braze-docs `_docs/_api/endpoints/export/user_data/post_users_*.md`). Names that
#: only appear in the pages' response examples (campaigns_received, canvases_received,
#: cards_clicked, push_opted_in_at) are not valid there. Each is the endpoint's default.
_BRAZE_COMMON_FIELDS: tuple[str, ...] = (
    "apps", "attributed_campaign", "attributed_source", "attributed_adgroup", "attributed_ad",
    "braze_id", "country", "created_at", "custom_attributes", "custom_events", "devices", "dob",
    "email", "external_id", "first_name", "gender", "home_city", "language", "last_coordinates",
    "last_name", "phone", "purchases", "random_bucket", "time_zone", "total_revenue",
    "uninstalled_at", "user_aliases",
)
_BRAZE_SUBSCRIPTION_FIELDS: tuple[str, ...] = ("push_subscribe", "email_subscribe", "push_tokens")
BRAZE_FIELDS: dict[str, tuple[str, ...]] = {
    "segment": _BRAZE_COMMON_FIELDS + _BRAZE_SUBSCRIPTION_FIELDS,
    "ids": _BRAZE_COMMON_FIELDS + _BRAZE_SUBSCRIPTION_FIELDS,
    "global_control_group": _BRAZE_COMMON_FIELDS,
}
#: Every field any Braze export endpoint documents (a configured name outside it is an error).
BRAZE_DOCUMENTED_FIELDS: frozenset[str] = frozenset().union(*BRAZE_FIELDS.values())

_STRINGS = th.ArrayType(th.StringType)
#: `activate_version` values (the default is in the schema).
ACTIVATE_VERSION_MODES = ("off", "all_sources", "configured_sources")
#: `type_conformance` values (the default is in the schema).
TYPE_CONFORMANCE_LEVELS = ("recursive", "root_only", "none")


def _secret(name: str, description: str, **kw: Any) -> th.Property:
    return th.Property(name, th.StringType, secret=True, description=description, **kw)


CONFIG_SCHEMA = th.PropertiesList(
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
                description="Table versions for the snapshot streams (profiles, braze_users), "
                            "so the target marks rows absent from a complete snapshot deleted: "
                            "'off' (default, like the SDK's emit_activate_version_messages: "
                            "false), 'all_sources' (ACTIVATE_VERSION only after a run read "
                            "every source a table can hold: profiles needs Batch and APSIS), "
                            "or 'configured_sources' (every configured source; only when no "
                            "other run writes the same table). Never after a failed or "
                            "partial read. See README 'Deleted profiles'."),
    th.Property(
        "batch",
        th.ObjectType(
            _secret("api_key", "Batch REST API key (sent as Authorization: Bearer)."),
            th.Property("project_key", th.StringType,
                        description="Batch project key (sent as X-Batch-Project)."),
            th.Property("api_url", th.StringType, default="https://api.batch.com",
                        description="Batch API base URL; the tap appends /2.4/…"),
            th.Property("identifiers", _STRINGS,
                        description="Identifiers to export, e.g. custom_id, installation_ids."),
            th.Property("attributes", _STRINGS,
                        description="Profile attributes to export ($native or custom names)."),
            th.Property("events", _STRINGS,
                        description="Optional event-name filter for the events export."),
            th.Property("segment", th.StringType,
                        description="Optional segment code filtering the attributes export."),
            th.Property("max_concurrent_exports", th.IntegerType, default=3,
                        description="Exports created up front and awaited together."),
        ),
        description="Batch.com Profile API export. The vendor is enabled when this block is set.",
    ),
    th.Property(
        "apsis",
        th.ObjectType(
            th.Property("client_id", th.StringType, description="APSIS One API client id."),
            _secret("client_secret", "APSIS One API client secret."),
            th.Property("api_url", th.StringType, default="https://api.apsis.one",
                        description="APSIS One API base URL (EU or https://api-apac.apsis.one)."),
            th.Property("segment_filter", th.ObjectType(additional_properties=True),
                        description="Optional segment filter object passed through as is."),
            th.Property("attributes", _STRINGS,
                        description="Attribute ids to export (at most 75)."),
            th.Property("tags", _STRINGS, description="Tag ids to export (at most 25)."),
            th.Property("events", _STRINGS,
                        description="Event type ids for the events stream (empty: no events)."),
            th.Property("window_days", th.IntegerType, default=7,
                        description="Days of events per export window, 1 to 92."),
            th.Property("min_seconds_between_exports", th.NumberType, default=60,
                        description="Pause between event-export requests (vendor: 1/minute)."),
            th.Property("max_concurrent_exports", th.IntegerType, default=3,
                        description="Exports created up front and awaited together (APSIS "
                                    "answers 429 beyond its pending-export limit)."),
        ),
        description="APSIS One profile-in-segment event export. Enabled when set.",
    ),
    th.Property(
        "braze",
        th.ObjectType(
            _secret("api_key", "Braze REST API key."),
            th.Property("rest_endpoint", th.StringType,
                        description="Braze REST endpoint of your instance, e.g. "
                                    "https://rest.iad-01.braze.com."),
            th.Property("segment_ids", _STRINGS,
                        description="Segments to export, one export each."),
            th.Property("global_control_group", th.BooleanType, default=False,
                        description="Also export the global control group."),
            th.Property("external_ids", _STRINGS,
                        description="External ids for the synchronous ids export (chunks of 50)."),
            th.Property("fields_to_export", _STRINGS,
                        description="User fields to export (default: every field Braze "
                                    "documents for each endpoint). A name no endpoint "
                                    "documents is a config error; a name documented for some "
                                    "endpoints only is left out of the others' requests."),
            th.Property("allow_unknown_fields", th.BooleanType, default=False,
                        description="Send fields_to_export names Braze does not document, "
                                    "as they are, to every endpoint (new Braze fields)."),
            th.Property("custom_attributes_to_export", _STRINGS,
                        description="Custom attribute names to export (at most 500)."),
            th.Property("max_concurrent_exports", th.IntegerType, default=10,
                        description="Segment exports created up front and awaited together "
                                    "(Braze allows 100 per company)."),
        ),
        description="Braze user exports. Enabled when set.",
    ),
).to_dict()


def schema_default(setting: str) -> Any:
    """The default of a setting (dotted name, e.g. `poll.timeout_seconds`) from the schema:
    the single source of every default (dataclasses and parsers read it here)."""
    node: Mapping[str, Any] = CONFIG_SCHEMA
    for name in setting.split("."):
        node = node["properties"][name]
    return node["default"]


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
class BatchSettings:
    """Batch.com connection and export request settings."""

    api_key: str
    project_key: str
    api_url: str
    identifiers: tuple[str, ...]
    attributes: tuple[str, ...]
    events: tuple[str, ...]
    segment: str | None
    max_concurrent_exports: int = schema_default("batch.max_concurrent_exports")


@dataclass(frozen=True)
class ApsisSettings:
    """APSIS One connection and export request settings."""

    client_id: str
    client_secret: str
    api_url: str
    segment_filter: Mapping[str, Any] | None
    attributes: tuple[str, ...]
    tags: tuple[str, ...]
    events: tuple[str, ...]
    window_days: int
    min_seconds_between_exports: float
    max_concurrent_exports: int = schema_default("apsis.max_concurrent_exports")


@dataclass(frozen=True)
class BrazeSettings:
    """Braze connection and export scope settings."""

    api_key: str
    rest_endpoint: str
    segment_ids: tuple[str, ...]
    global_control_group: bool
    external_ids: tuple[str, ...]
    #: As configured (braze_id added); empty means each endpoint's documented fields.
    fields_to_export: tuple[str, ...]
    custom_attributes_to_export: tuple[str, ...]
    max_concurrent_exports: int = schema_default("braze.max_concurrent_exports")
    allow_unknown_fields: bool = schema_default("braze.allow_unknown_fields")

    def fields_for(self, kind: str) -> tuple[str, ...]:
        """`fields_to_export` of one endpoint (`segment`, `global_control_group`, `ids`).

        The global control group takes no `custom_attributes_to_export`: when custom
        attributes are wanted it gets `custom_attributes` (all of them) in its fields.
        """
        documented = BRAZE_FIELDS[kind]
        if not self.fields_to_export:
            fields = documented
        elif self.allow_unknown_fields:
            fields = self.fields_to_export
        else:
            fields = tuple(f for f in self.fields_to_export if f in documented)
        if "braze_id" not in fields:
            fields = (*fields, "braze_id")
        if (kind == "global_control_group" and self.custom_attributes_to_export
                and "custom_attributes" not in fields):
            fields = (*fields, "custom_attributes")
        return fields


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
    batch: BatchSettings | None
    apsis: ApsisSettings | None
    braze: BrazeSettings | None
    #: Overlap each run re-reads before an event stream's bookmark (late-arriving events).
    events_lookback: timedelta = timedelta(minutes=schema_default("events_lookback_minutes"))

    @property
    def secrets(self) -> list[str]:
        """Every secret value configured, for log and error masking."""
        values = [
            self.batch and self.batch.api_key,
            self.apsis and self.apsis.client_secret,
            self.braze and self.braze.api_key,
        ]
        return [v for v in values if v]


def is_loopback_host(host: str | None) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(setting: str, url: str) -> str:
    """Return `url` without a trailing slash if it is https (or http on loopback)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError(setting, f"must be an absolute https:// URL, got {url!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise SettingError(setting, "must use https:// (plain http is allowed only on loopback)")
    if parts.query or parts.fragment:
        raise SettingError(setting, "must not contain a query string or fragment")
    return url.rstrip("/")


def _key(setting: str) -> str:
    """`poll.timeout_seconds` → `timeout_seconds` (the key inside its block)."""
    return setting.rsplit(".", 1)[-1]


def _number(config: Mapping[str, Any], setting: str) -> float:
    value = config.get(_key(setting))
    if value is None:
        return float(schema_default(setting))
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) or value < 0:
        raise SettingError(setting, f"must be a number of seconds ≥ 0, got {value!r}")
    return float(value)


def _strings(block: Mapping[str, Any], key: str, setting: str) -> tuple[str, ...]:
    value = block.get(key) or []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise SettingError(setting, "must be a list of strings")
    if not all(isinstance(v, str) and v for v in value):
        raise SettingError(setting, "must contain only non-empty strings")
    return tuple(value)


def _required(block: Mapping[str, Any], key: str, setting: str) -> str:
    value = block.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SettingError(setting, "is required when this vendor block is present")
    return value


def _datetime(config: Mapping[str, Any], key: str) -> datetime | None:
    value = config.get(key)
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise SettingError(key, f"must be an RFC 3339 date-time, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _positive_int(block: Mapping[str, Any], vendor: str) -> int:
    value = block.get("max_concurrent_exports",
                      schema_default(f"{vendor}.max_concurrent_exports"))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingError(f"{vendor}.max_concurrent_exports",
                           f"must be a whole number ≥ 1, got {value!r}")
    return value


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


def _parse_batch(block: Mapping[str, Any]) -> BatchSettings:
    identifiers = _strings(block, "identifiers", "batch.identifiers")
    attributes = _strings(block, "attributes", "batch.attributes")
    if not identifiers and not attributes:
        raise SettingError("batch.identifiers", "set at least one of batch.identifiers or "
                                                "batch.attributes")
    return BatchSettings(
        api_key=_required(block, "api_key", "batch.api_key"),
        project_key=_required(block, "project_key", "batch.project_key"),
        api_url=check_base_url("batch.api_url", block.get("api_url")
                           or schema_default("batch.api_url")),
        identifiers=identifiers,
        attributes=attributes,
        events=_strings(block, "events", "batch.events"),
        segment=block.get("segment") or None,
        max_concurrent_exports=_positive_int(block, "batch"),
    )


def _parse_apsis(block: Mapping[str, Any]) -> ApsisSettings:
    attributes = _strings(block, "attributes", "apsis.attributes")
    tags = _strings(block, "tags", "apsis.tags")
    if len(attributes) > APSIS_MAX_ATTRIBUTES:
        raise SettingError("apsis.attributes",
                           f"at most {APSIS_MAX_ATTRIBUTES} allowed, got {len(attributes)}")
    if len(tags) > APSIS_MAX_TAGS:
        raise SettingError("apsis.tags", f"at most {APSIS_MAX_TAGS} allowed, got {len(tags)}")
    if not attributes and not tags:
        raise SettingError("apsis.attributes", "set at least one attribute or tag "
                                               "(APSIS exports no profiles without one)")
    window_days = block.get("window_days", schema_default("apsis.window_days"))
    if (isinstance(window_days, bool) or not isinstance(window_days, int)
            or not 1 <= window_days <= APSIS_MAX_WINDOW_DAYS):
        raise SettingError("apsis.window_days",
                           f"must be an integer from 1 to {APSIS_MAX_WINDOW_DAYS}, "
                           f"got {window_days!r}")
    segment_filter = block.get("segment_filter")
    if segment_filter is not None and not isinstance(segment_filter, Mapping):
        raise SettingError("apsis.segment_filter", "must be an object")
    return ApsisSettings(
        client_id=_required(block, "client_id", "apsis.client_id"),
        client_secret=_required(block, "client_secret", "apsis.client_secret"),
        api_url=check_base_url("apsis.api_url", block.get("api_url")
                           or schema_default("apsis.api_url")),
        segment_filter=segment_filter,
        attributes=attributes,
        tags=tags,
        events=_strings(block, "events", "apsis.events"),
        window_days=window_days,
        min_seconds_between_exports=_number(block, "apsis.min_seconds_between_exports"),
        max_concurrent_exports=_positive_int(block, "apsis"),
    )


def _parse_braze(block: Mapping[str, Any]) -> BrazeSettings:
    segment_ids = _strings(block, "segment_ids", "braze.segment_ids")
    external_ids = _strings(block, "external_ids", "braze.external_ids")
    control_group = bool(block.get("global_control_group",
                                   schema_default("braze.global_control_group")))
    if not segment_ids and not external_ids and not control_group:
        raise SettingError("braze.segment_ids", "set at least one scope: braze.segment_ids, "
                                                "braze.global_control_group or braze.external_ids")
    custom = _strings(block, "custom_attributes_to_export", "braze.custom_attributes_to_export")
    if len(custom) > BRAZE_MAX_CUSTOM_ATTRIBUTES:
        raise SettingError("braze.custom_attributes_to_export",
                           f"at most {BRAZE_MAX_CUSTOM_ATTRIBUTES} allowed, got {len(custom)}")
    allow_unknown = block.get("allow_unknown_fields",
                              schema_default("braze.allow_unknown_fields"))
    if not isinstance(allow_unknown, bool):
        raise SettingError("braze.allow_unknown_fields", "must be true or false")
    fields = _strings(block, "fields_to_export", "braze.fields_to_export")
    unknown = [f for f in fields if f not in BRAZE_DOCUMENTED_FIELDS]
    if unknown and not allow_unknown:
        raise SettingError("braze.fields_to_export",
                           f"Braze documents no field named {', '.join(map(repr, unknown))} "
                           f"for its export endpoints (valid: "
                           f"{', '.join(sorted(BRAZE_DOCUMENTED_FIELDS))}); set "
                           f"braze.allow_unknown_fields: true to send it anyway")
    if fields and "braze_id" not in fields:
        fields = (*fields, "braze_id")
    return BrazeSettings(
        api_key=_required(block, "api_key", "braze.api_key"),
        rest_endpoint=check_base_url("braze.rest_endpoint",
                                     _required(block, "rest_endpoint", "braze.rest_endpoint")),
        segment_ids=segment_ids,
        global_control_group=control_group,
        external_ids=external_ids,
        fields_to_export=fields,
        custom_attributes_to_export=custom,
        max_concurrent_exports=_positive_int(block, "braze"),
        allow_unknown_fields=allow_unknown,
    )


def parse_settings(config: Mapping[str, Any]) -> TapSettings:
    """Check every setting and return the typed view, or raise `SettingError`."""
    poll = config.get("poll") or {}
    if not isinstance(poll, Mapping):
        raise SettingError("poll", "must be an object")
    poll_settings = PollSettings(
        initial_interval=_number(poll, "poll.initial_interval_seconds"),
        max_interval=_number(poll, "poll.max_interval_seconds"),
        timeout=_number(poll, "poll.timeout_seconds"),
    )
    retry = config.get("retry") or {}
    if not isinstance(retry, Mapping):
        raise SettingError("retry", "must be an object")
    retry_settings = RetrySettings(
        initial_delay=_number(retry, "retry.initial_delay_seconds"),
        max_delay=_number(retry, "retry.max_delay_seconds"),
    )
    start, end = _datetime(config, "start_date"), _datetime(config, "end_date")
    if start and end and start >= end:
        raise SettingError("end_date", "must be later than start_date")
    vendors: dict[str, Any] = {}
    for name, parse in (("batch", _parse_batch), ("apsis", _parse_apsis),
                        ("braze", _parse_braze)):
        block = config.get(name)
        if block is None:
            vendors[name] = None
        elif not isinstance(block, Mapping):
            raise SettingError(name, "must be an object")
        else:
            vendors[name] = parse(block)
    return TapSettings(
        start_date=start,
        end_date=end,
        poll=poll_settings,
        retry=retry_settings,
        http_timeout=_number(config, "http_timeout_seconds")
        or float(schema_default("http_timeout_seconds")),
        temp_dir=config.get("temp_dir") or None,
        type_conformance=_choice(config, "type_conformance", TYPE_CONFORMANCE_LEVELS),
        activate_version=_choice(config, "activate_version", ACTIVATE_VERSION_MODES),
        events_lookback=_lookback(config),
        **vendors,
    )
