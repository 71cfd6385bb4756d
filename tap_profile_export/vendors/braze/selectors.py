"""What the ids export asks Braze for: its selector settings, their checks, its requests.

`POST /users/export/ids` takes up to 50 `external_ids` and `user_aliases` together in one
request, and exactly one `braze_id`, `device_id`, `email_address` or `phone` in a request of
its own (docs/research/braze-ids-export.md). Identifiers are personal data: errors and labels
name a selector by its setting and index (`braze.email_addresses[2]`), never by its value, and
state keeps only a keyed digest of them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson
from singer_sdk import typing as th

from tap_profile_export.errors import SettingError

#: `external_ids` and `user_aliases` together, per request.
MAX_PER_REQUEST = 50
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_ALIAS_KEYS = ("alias_name", "alias_label")
#: Selectors sent one per request: (body key, setting key, name in messages).
SINGLE = (("braze_id", "braze_ids", "Braze id"), ("device_id", "device_ids", "device id"),
          ("email_address", "email_addresses", "email address"),
          ("phone", "phones", "phone number"))
#: Every selector's name in messages, in the order they are reported.
_NOUNS = {"external_ids": "external id", "user_aliases": "alias",
          **{setting: noun for _, setting, noun in SINGLE}}

_ANY_ITEMS = th.ArrayType(th.AnyType())  # items checked by `parse_selectors`: a schema error
                                         # would print the value, and these are personal data
PROPERTIES = (
    th.Property("external_ids", _ANY_ITEMS,
                description="External ids for the synchronous ids export (with user_aliases, "
                            "50 a request)."),
    th.Property("user_aliases", _ANY_ITEMS,
                description="User aliases for the ids export: objects with non-empty string "
                            "alias_name and alias_label (with external_ids, 50 a request)."),
    th.Property("braze_ids", _ANY_ITEMS,
                description="Braze ids for the ids export (one request each)."),
    th.Property("device_ids", _ANY_ITEMS,
                description="Device ids for the ids export (one request each)."),
    th.Property("email_addresses", _ANY_ITEMS,
                description="Email addresses for the ids export (one request each)."),
    th.Property("phones", _ANY_ITEMS,
                description="Phone numbers in E.164 (+ then 8 to 15 digits, the first not 0) "
                            "for the ids export (one request each)."),
)


@dataclass(frozen=True)
class IdsSelectors:
    """The configured identifiers of the ids export, as configured."""

    external_ids: tuple[str, ...] = ()
    #: (alias_name, alias_label) pairs.
    user_aliases: tuple[tuple[str, str], ...] = ()
    braze_ids: tuple[str, ...] = ()
    device_ids: tuple[str, ...] = ()
    email_addresses: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def digest(self, key: str) -> str:
        """Tells that any list changed, and holds no identifier: an HMAC keyed with the API
        key, so a guessed email or phone cannot be checked against a state file."""
        data = orjson.dumps({"v": 2, **{f.name: getattr(self, f.name) for f in fields(self)}},
                            option=orjson.OPT_SORT_KEYS)
        return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()

    def requests(self) -> list[IdsRequest]:
        """External ids then aliases, 50 a request; then one request per single selector.
        A repeated entry is asked for once (at its first index)."""
        pooled = [("external_ids", i, v) for i, v in _first(self.external_ids)]
        pooled += [("user_aliases", i, {"alias_name": name, "alias_label": label})
                   for i, (name, label) in _first(self.user_aliases)]
        found = [_pooled_request(pooled[i:i + MAX_PER_REQUEST])
                 for i in range(0, len(pooled), MAX_PER_REQUEST)]
        for key, setting, _ in SINGLE:
            found += [IdsRequest({key: value}, {setting: (i, i)})
                      for i, value in _first(getattr(self, setting))]
        return found


@dataclass(frozen=True)
class IdsRequest:
    """The identifiers of one request (never logged) and where they sit in the settings."""

    body: dict[str, Any]
    #: Setting key → first and last index of its entries in this request.
    spans: dict[str, tuple[int, int]]

    def label(self, number: int, total: int) -> str:
        """`ids request 3/7 (braze.email_addresses[0])`: for logs, without identifiers."""
        where = ", ".join(f"braze.{s}[{a}]" if a == b else f"braze.{s}[{a}-{b}]"
                          for s, (a, b) in self.spans.items())
        return f"ids request {number}/{total} ({where})"

    def unmatched(self, answer: Mapping[str, Any]) -> dict[str, int]:
        """How many identifiers of this request matched no user, per setting."""
        if "external_ids" not in self.spans and "user_aliases" not in self.spans:
            # One identifier: unmatched when no user came back (several may share an email).
            return {} if answer.get("users") else dict.fromkeys(self.spans, 1)
        external = set(self.body.get("external_ids", ()))
        counts: dict[str, int] = {}
        for entry in answer.get("invalid_user_ids") or []:
            # Braze documents strings; what it lists for an alias is not documented.
            if "user_aliases" not in self.spans:
                setting = "external_ids"
            elif "external_ids" not in self.spans:
                setting = "user_aliases"
            else:
                setting = ("external_ids" if isinstance(entry, str) and entry in external
                           else "user_aliases")
            counts[setting] = counts.get(setting, 0) + 1
        return {setting: min(count, len(self.body[setting]))
                for setting, count in counts.items()}

    def mask(self, text: str) -> str:
        """`text` without this request's identifiers (a vendor error may quote them)."""
        values = [*self.body.get("external_ids", ()),
                  *(alias["alias_name"] for alias in self.body.get("user_aliases", ())),
                  *(self.body[key] for key, _, _ in SINGLE if key in self.body)]
        for value in sorted(values, key=len, reverse=True):
            text = text.replace(value, "***")
        return text


def _first(values: Sequence[Any]) -> list[tuple[int, Any]]:
    """(index, value) of each value's first occurrence."""
    first: dict[Any, int] = {}
    for index, value in enumerate(values):
        first.setdefault(value, index)
    return [(index, value) for value, index in first.items()]


def _pooled_request(items: list[tuple[str, int, Any]]) -> IdsRequest:
    body: dict[str, list[Any]] = {}
    spans: dict[str, tuple[int, int]] = {}
    for setting, index, value in items:
        body.setdefault(setting, []).append(value)
        spans[setting] = (spans.get(setting, (index, index))[0], index)
    return IdsRequest(body, spans)


def unmatched_text(counts: Mapping[str, int]) -> str:
    """`1 external id(s), 2 email address(es)` in the order of the settings."""
    plural = {"alias": "alias(es)", "email address": "email address(es)"}
    return ", ".join(f"{counts[s]} {plural.get(noun, noun + '(s)')}"
                     for s, noun in _NOUNS.items() if counts.get(s))


# -- settings ---------------------------------------------------------------------------------

def parse_selectors(block: Mapping[str, Any]) -> IdsSelectors:
    """Check every selector list (SettingError names the setting and the index, never the
    value: identifiers are personal data)."""
    lists = {setting: _identifiers(block, setting)
             for setting in ("external_ids", "braze_ids", "device_ids", "email_addresses")}
    phones = _identifiers(block, "phones", _E164.fullmatch,
                          "is not an E.164 phone number ('+' then 8 to 15 digits, the first "
                          "not 0); the value is not shown (personal data)")
    return IdsSelectors(user_aliases=_aliases(block), phones=phones, **lists)


def _entries(block: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = block.get(key) or []
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        raise SettingError(f"braze.{key}", "must be a list")
    return value


def _identifiers(block: Mapping[str, Any], key: str, valid: Callable[[str], Any] = bool,
                 problem: str = "must be a non-empty string") -> tuple[str, ...]:
    entries = _entries(block, key)
    for index, value in enumerate(entries):
        if not isinstance(value, str) or not valid(value):
            raise SettingError(f"braze.{key}[{index}]", problem)
    return tuple(entries)


def _aliases(block: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    for index, alias in enumerate(_entries(block, "user_aliases")):
        if (not isinstance(alias, Mapping) or set(alias) != set(_ALIAS_KEYS)
                or not all(isinstance(alias[k], str) and alias[k] for k in _ALIAS_KEYS)):
            raise SettingError(f"braze.user_aliases[{index}]",
                               "must be an object with exactly alias_name and alias_label, "
                               "both non-empty strings")
        found.append((alias["alias_name"], alias["alias_label"]))
    return tuple(found)
