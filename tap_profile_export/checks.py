"""Validation helpers shared by the tap's settings and every vendor's settings block.

Each raises `SettingError` naming the setting. Defaults come from the JSON schema only
(`default_of`): a setting has one default, in its schema property.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_profile_export.errors import SettingError

STRINGS = th.ArrayType(th.StringType)


def secret(name: str, description: str, **kw: Any) -> th.Property:
    """A secret string setting (masked in logs and docs)."""
    return th.Property(name, th.StringType, secret=True, description=description, **kw)


def default_of(schema: Mapping[str, Any], setting: str) -> Any:
    """The `default` of a setting (dotted path, e.g. `poll.timeout_seconds`) in `schema`
    (a JSON schema with `properties`); KeyError when it has none."""
    node: Mapping[str, Any] = schema
    for name in setting.split("."):
        node = node["properties"][name]
    return node["default"]


def block_schema(block: th.Property) -> dict[str, Any]:
    """The JSON schema of one settings block (an object property)."""
    return dict(block.to_dict()[block.name])


def block_defaults(block: th.Property) -> Callable[[str], Any]:
    """`default(key)`: the schema default of `<block>.<key>` (KeyError when it has none)."""
    schema = block_schema(block)

    def default(key: str) -> Any:
        return default_of(schema, key)

    return default


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


def key_of(setting: str) -> str:
    """`poll.timeout_seconds` → `timeout_seconds` (the key inside its block)."""
    return setting.rsplit(".", 1)[-1]


def number(config: Mapping[str, Any], setting: str, default: Any) -> float:
    """A number of seconds ≥ 0 (`default` when unset)."""
    value = config.get(key_of(setting))
    if value is None:
        return float(default)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) or value < 0:
        raise SettingError(setting, f"must be a number of seconds ≥ 0, got {value!r}")
    return float(value)


def strings(block: Mapping[str, Any], setting: str) -> tuple[str, ...]:
    """A list of non-empty strings (empty when unset)."""
    value = block.get(key_of(setting)) or []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise SettingError(setting, "must be a list of strings")
    if not all(isinstance(v, str) and v for v in value):
        raise SettingError(setting, "must contain only non-empty strings")
    return tuple(value)


def required(block: Mapping[str, Any], setting: str) -> str:
    """A non-blank string the vendor block cannot do without."""
    value = block.get(key_of(setting))
    if not isinstance(value, str) or not value.strip():
        raise SettingError(setting, "is required when this vendor block is present")
    return value


def positive_int(block: Mapping[str, Any], setting: str, default: Any) -> int:
    """A whole number ≥ 1 (`default` when unset)."""
    value = block.get(key_of(setting), default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingError(setting, f"must be a whole number ≥ 1, got {value!r}")
    return value
