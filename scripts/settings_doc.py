"""Settings documentation generated from the tap's JSON schema, so docs cannot drift.

    python scripts/settings_doc.py meltano   # the `settings:` list for meltano.yml
    python scripts/settings_doc.py markdown  # the README configuration table
    python scripts/settings_doc.py check     # exit 1 if README or meltano.yml are stale
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tap_profile_export.settings import CONFIG_SCHEMA

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"
KINDS = {"string": "string", "integer": "integer", "number": "decimal", "boolean": "boolean",
         "array": "array", "object": "object"}


def flatten(schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted name, property schema) of every leaf setting."""
    for name, prop in schema.get("properties", {}).items():
        dotted = f"{prefix}{name}"
        types = prop.get("type", [])
        types = [types] if isinstance(types, str) else types
        if "object" in types and prop.get("properties"):
            yield from flatten(prop, dotted + ".")
        else:
            yield dotted, prop


def _type(prop: dict[str, Any]) -> str:
    types = prop.get("type", ["string"])
    types = [types] if isinstance(types, str) else types
    return next((t for t in types if t != "null"), "string")


def meltano_settings() -> str:
    """YAML lines for the extractor's `settings:` in meltano.yml (indented for it)."""
    lines = []
    for name, prop in flatten(CONFIG_SCHEMA):
        lines.append(f"      - name: {name}")
        if prop.get("secret"):
            lines.append("        kind: password")
            lines.append("        sensitive: true")
        elif prop.get("format") == "date-time":
            lines.append("        kind: date_iso8601")
        else:
            lines.append(f"        kind: {KINDS[_type(prop)]}")
        description = str(prop.get("description", "")).replace('"', "'")
        lines.append(f'        description: "{description}"')
    return "\n".join(lines)


def markdown_table() -> str:
    """The README configuration table."""
    rows = ["| setting | type | default | description |", "|---|---|---|---|"]
    for name, prop in flatten(CONFIG_SCHEMA):
        kind = _type(prop) + (" (secret)" if prop.get("secret") else "")
        default = prop.get("default")
        rows.append(f"| `{name}` | {kind} | {'' if default is None else f'`{default}`'} | "
                    f"{prop.get('description', '')} |")
    return "\n".join(rows)


def _between(text: str, begin: str, end: str) -> str:
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n")


def check() -> int:
    """Exit status 1 (and a message) when README or meltano.yml differ from the schema."""
    problems = []
    readme = (ROOT / "README.md").read_text()
    if _between(readme, BEGIN, END) != markdown_table():
        problems.append("README.md configuration table")
    meltano = (ROOT / "meltano.yml").read_text()
    if _between(meltano, "    # settings:begin", "    # settings:end") != meltano_settings():
        problems.append("meltano.yml settings")
    for problem in problems:
        print(f"stale: {problem}; regenerate with `python scripts/settings_doc.py write`",
              file=sys.stderr)
    return 1 if problems else 0


def write() -> int:
    """Rewrite the generated blocks of README.md and meltano.yml in place."""
    for path, begin, end, body in (
            (ROOT / "README.md", BEGIN, END, markdown_table()),
            (ROOT / "meltano.yml", "    # settings:begin", "    # settings:end",
             meltano_settings())):
        text = path.read_text()
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        path.write_text(f"{head}{begin}\n{body}\n{end}{tail}")
    return 0


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "check"
    if mode == "meltano":
        print(meltano_settings())
    elif mode == "markdown":
        print(markdown_table())
    elif mode == "write":
        sys.exit(write())
    else:
        sys.exit(check())
