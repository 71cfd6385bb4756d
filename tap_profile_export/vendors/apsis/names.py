"""`apsis.attributes`, `apsis.tags` and `apsis.events` by id or by name.

Resolved through the account's definitions before any export is created: a value that is a
definition's id stays as it is; a name that belongs to exactly one id becomes that id; anything
else is a config error naming the value and its closest matches. If the definitions cannot be
read, the values are sent as they are (as ids) and the definition streams fail the run.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from tap_profile_export.errors import SettingError, TapProfileExportError
from tap_profile_export.vendors.apsis.definitions import Definition
from tap_profile_export.vendors.apsis.settings import ApsisSettings, check_limits

LOGGER = logging.getLogger("tap_profile_export.apsis")

#: setting → (field of `ApsisSettings`, definition kind, what one is called in messages)
SETTINGS = {
    "apsis.attributes": ("attributes", "attributes", "attribute"),
    "apsis.tags": ("tags", "tags", "tag"),
    "apsis.events": ("events", "event_types", "event type"),
}
CLOSEST = 3


def resolve(setting: str, values: Sequence[str], known: Sequence[Definition]
            ) -> tuple[str, ...]:
    """`values` as ids (order kept, duplicates dropped), or SettingError."""
    noun = SETTINGS[setting][2]
    ids = {d.id for d in known}
    by_name: dict[str, set[str]] = {}
    for definition in known:
        if definition.name:
            by_name.setdefault(definition.name, set()).add(definition.id)
    resolved: dict[str, None] = {}
    for value in values:
        if value in ids:
            resolved[value] = None
            continue
        matches = sorted(by_name.get(value, ()))
        if len(matches) == 1:
            LOGGER.info("%s: %r is the %s %s", setting, value, noun, matches[0])
            resolved[matches[0]] = None
            continue
        if matches:
            where = ", ".join(f"{i} (section {', '.join(_sections(known, i, value))})"
                              for i in matches)
            raise SettingError(setting, f"the {noun} name {value!r} is ambiguous: it names "
                                        f"{where}; give the id instead")
        raise SettingError(setting, f"{value!r} is neither the id nor the name of an APSIS "
                                    f"{noun} (deleted at APSIS?); {closest(value, known)}")
    return tuple(resolved)


def closest(value: str, known: Sequence[Definition]) -> str:
    """The closest names and ids to `value`, for an error message."""
    labels: dict[str, str] = {}
    for d in known:
        labels.setdefault(d.id, repr(d.id))
        if d.name:
            labels.setdefault(d.name, f"{d.name!r} ({d.id})")
    found = difflib.get_close_matches(value, list(labels), n=CLOSEST, cutoff=0.5)
    if not found:
        found = difflib.get_close_matches(value.casefold(), [k.casefold() for k in labels],
                                          n=CLOSEST, cutoff=0.5)
        found = [k for k in labels if k.casefold() in found][:CLOSEST]
    if not found:
        return f"no close match among {len({d.id for d in known})} defined"
    return "closest: " + ", ".join(labels[k] for k in found)


def _sections(known: Sequence[Definition], definition_id: str, name: str) -> list[str]:
    return sorted({d.section for d in known if d.id == definition_id and d.name == name})


def resolve_settings(settings: ApsisSettings,
                     catalogue: Callable[[str], Sequence[Definition]]) -> ApsisSettings:
    """`settings` with attributes, tags and events as ids; the limits checked on those."""
    lists: dict[str, tuple[str, ...]] = {}
    for setting, (field, kind, _) in SETTINGS.items():
        values: tuple[str, ...] = getattr(settings, field)
        if not values:
            lists[field] = ()
            continue
        try:
            known = catalogue(kind)
        except TapProfileExportError as exc:
            LOGGER.warning("%s: the %s definitions could not be read, so its values are sent "
                           "as they are, as ids (a name among them will make APSIS refuse the "
                           "export): %s", setting, kind.replace("_", " "), exc)
            lists[field] = tuple(dict.fromkeys(values))
            continue
        lists[field] = resolve(setting, values, known)
    check_limits(lists["attributes"], lists["tags"])
    return replace(settings, attributes=lists["attributes"], tags=lists["tags"],
                   events=lists["events"])
