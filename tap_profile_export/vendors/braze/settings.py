"""The `braze` settings block: schema (the single source of its defaults) and typed view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_profile_export.checks import (
    STRINGS,
    block_defaults,
    check_base_url,
    number,
    positive_int,
    required,
    secret,
    strings,
)
from tap_profile_export.errors import SettingError
from tap_profile_export.vendors.braze.selectors import PROPERTIES as IDS_PROPERTIES
from tap_profile_export.vendors.braze.selectors import IdsSelectors, parse_selectors

BRAZE_MAX_CUSTOM_ATTRIBUTES = 500
#: `output_format` values Braze takes for exports to your own bucket.
STORAGE_FORMATS = ("zip", "gzip")

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

STORAGE_BLOCK = th.Property(
    "storage",
    th.ObjectType(
        th.Property("url", th.StringType,
                    description="The bucket Braze writes exports to, as set up in Braze's "
                                "partner integrations: s3://bucket, gs://bucket or "
                                "az://container (a path after it is the folder Braze writes "
                                "under). Credentials come from the provider's standard chain."),
        th.Property("endpoint_url", th.StringType,
                    description="S3-compatible stores only (MinIO, R2…): the API endpoint."),
        th.Property("output_format", th.StringType, default="zip",
                    allowed_values=list(STORAGE_FORMATS),
                    description="File format Braze writes: zip (ZIP of NDJSON) or gzip "
                                "(gzipped NDJSON, streamed without temp disk)."),
        th.Property("settle_seconds", th.NumberType, default=120,
                    description="Braze writes no completion marker: an export is complete "
                                "when the set of its files is unchanged for this long (and "
                                "two checks). Bounded by poll.timeout_seconds."),
        secret("aws_access_key_id", "S3 access key id (else the AWS credential chain)."),
        secret("aws_secret_access_key", "S3 secret access key."),
        secret("aws_session_token", "S3 session token (temporary credentials)."),
    ),
    description="Your own bucket, when Braze exports there (S3, Azure or Google Cloud Storage "
                "credentials configured in Braze): the tap lists and reads the export's "
                "files, read-only. Without it, such an export is an error.",
)

BLOCK = th.Property(
    "braze",
    th.ObjectType(
        secret("api_key", "Braze REST API key."),
        th.Property("rest_endpoint", th.StringType,
                    description="Braze REST endpoint of your instance, e.g. "
                                "https://rest.iad-01.braze.com."),
        th.Property("segment_ids", STRINGS,
                    description="Segments to export, one export each."),
        th.Property("global_control_group", th.BooleanType, default=False,
                    description="Also export the global control group."),
        *IDS_PROPERTIES,
        th.Property("fields_to_export", STRINGS,
                    description="User fields to export (default: every field Braze "
                                "documents for each endpoint). A name no endpoint "
                                "documents is a config error; a name documented for some "
                                "endpoints only is left out of the others' requests."),
        th.Property("allow_unknown_fields", th.BooleanType, default=False,
                    description="Send fields_to_export names Braze does not document, "
                                "as they are, to every endpoint (new Braze fields)."),
        th.Property("custom_attributes_to_export", STRINGS,
                    description="Custom attribute names to export (at most 500)."),
        th.Property("max_concurrent_exports", th.IntegerType, default=10,
                    description="Segment exports created up front and awaited together "
                                "(Braze allows 100 per company)."),
        STORAGE_BLOCK,
    ),
    description="Braze user exports. Enabled when set.",
)
#: The schema default of `braze.<key>` (the only place defaults live).
default = block_defaults(BLOCK)


@dataclass(frozen=True)
class StorageSettings:
    """The customer's bucket Braze exports to (`braze.storage`)."""

    url: str
    endpoint_url: str | None = None
    output_format: str = default("storage.output_format")
    settle_seconds: float = float(default("storage.settle_seconds"))
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None

    def fsspec_options(self) -> dict[str, Any]:
        """Keys for fsspec when configured (S3 only); else the provider's own chain."""
        keys = {"key": self.aws_access_key_id, "secret": self.aws_secret_access_key,
                "token": self.aws_session_token}
        return {name: value for name, value in keys.items() if value}


@dataclass(frozen=True)
class BrazeSettings:
    """Braze connection and export scope settings."""

    api_key: str
    rest_endpoint: str
    segment_ids: tuple[str, ...]
    global_control_group: bool
    #: The ids export's selectors (external ids, aliases, Braze ids, devices, emails, phones).
    ids: IdsSelectors
    #: As configured (braze_id added); empty means each endpoint's documented fields.
    fields_to_export: tuple[str, ...]
    custom_attributes_to_export: tuple[str, ...]
    max_concurrent_exports: int = default("max_concurrent_exports")
    allow_unknown_fields: bool = default("allow_unknown_fields")
    storage: StorageSettings | None = None

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


def parse(block: Mapping[str, Any]) -> BrazeSettings:
    """Check the `braze` block (SettingError names the setting)."""
    segment_ids = strings(block, "braze.segment_ids")
    selectors = parse_selectors(block)
    control_group = bool(block.get("global_control_group",
                                   default("global_control_group")))
    if not segment_ids and not selectors and not control_group:
        raise SettingError("braze.segment_ids", "set at least one scope: braze.segment_ids, "
                                                "braze.global_control_group or an ids selector "
                                                "(braze.external_ids, braze.user_aliases, "
                                                "braze.braze_ids, braze.device_ids, "
                                                "braze.email_addresses, braze.phones)")
    custom = strings(block, "braze.custom_attributes_to_export")
    if len(custom) > BRAZE_MAX_CUSTOM_ATTRIBUTES:
        raise SettingError("braze.custom_attributes_to_export",
                           f"at most {BRAZE_MAX_CUSTOM_ATTRIBUTES} allowed, got {len(custom)}")
    allow_unknown = block.get("allow_unknown_fields", default("allow_unknown_fields"))
    if not isinstance(allow_unknown, bool):
        raise SettingError("braze.allow_unknown_fields", "must be true or false")
    fields = strings(block, "braze.fields_to_export")
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
        api_key=required(block, "braze.api_key"),
        rest_endpoint=check_base_url("braze.rest_endpoint",
                                     required(block, "braze.rest_endpoint")),
        segment_ids=segment_ids,
        global_control_group=control_group,
        ids=selectors,
        fields_to_export=fields,
        custom_attributes_to_export=custom,
        max_concurrent_exports=positive_int(block, "braze.max_concurrent_exports",
                                            default("max_concurrent_exports")),
        allow_unknown_fields=allow_unknown,
        storage=parse_storage(block.get("storage")),
    )


def parse_storage(block: Any) -> StorageSettings | None:
    """Check `braze.storage` (None when unset)."""
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise SettingError("braze.storage", "must be an object")
    url = required(block, "braze.storage.url")
    scheme = urlsplit(url).scheme
    if scheme not in ("s3", "gs", "gcs", "az", "abfs") or not urlsplit(url).netloc:
        raise SettingError("braze.storage.url", f"must be s3://bucket, gs://bucket or "
                                                f"az://container, got {url!r}")
    endpoint = block.get("endpoint_url") or None
    if endpoint is not None:
        if scheme != "s3":
            raise SettingError("braze.storage.endpoint_url", "applies to s3:// only")
        endpoint = check_base_url("braze.storage.endpoint_url", str(endpoint))
    output_format = block.get("output_format") or default("storage.output_format")
    if output_format not in STORAGE_FORMATS:
        raise SettingError("braze.storage.output_format",
                           f"must be one of {', '.join(STORAGE_FORMATS)}, got {output_format!r}")
    keys = {name: block.get(name) or None for name in
            ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")}
    if any(keys.values()) and scheme != "s3":
        raise SettingError("braze.storage.aws_access_key_id", "applies to s3:// only (GCS and "
                                                              "Azure use their own chain)")
    if bool(keys["aws_access_key_id"]) != bool(keys["aws_secret_access_key"]):
        raise SettingError("braze.storage.aws_secret_access_key",
                           "set both aws_access_key_id and aws_secret_access_key, or neither")
    return StorageSettings(
        url=url, endpoint_url=endpoint, output_format=str(output_format),
        settle_seconds=number(block, "braze.storage.settle_seconds",
                              default("storage.settle_seconds")),
        **keys)
