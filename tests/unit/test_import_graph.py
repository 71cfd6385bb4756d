"""No import circles in the package: every `import` of a `tap_profile_export` module (at module
level, in functions and under TYPE_CHECKING alike) is an edge, and so is the implicit import of
each parent package (except the importer's own); the graph must have no cycle. Plus the layering rules of DESIGN.md."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tap_profile_export"
ROOT = "tap_profile_export"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def with_parents(name: str) -> set[str]:
    """`a.b.c` and the packages importing it runs first (`a.b`), within the package."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(2, len(parts) + 1)} & MODULES.keys()


def imports_of(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text())
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target == ROOT or target.startswith(ROOT + "."):
                found |= with_parents(target)
    # The importer's own packages are loaded before it (importing from a sibling is no edge
    # back to them).
    return {m for m in found if m != name and not name.startswith(m + ".")}


GRAPH = {name: imports_of(name) for name in MODULES}


def find_cycle() -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_the_package() -> None:
    assert "tap_profile_export.exports.coordinator" in GRAPH["tap_profile_export.exports"]
    assert "tap_profile_export.vendors" in GRAPH["tap_profile_export.settings"]


def test_no_import_cycles() -> None:
    cycle = find_cycle()
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_streams_never_import_the_tap() -> None:
    assert "tap_profile_export.tap" not in GRAPH["tap_profile_export.streams"]
    assert "tap_profile_export.tap" not in GRAPH["tap_profile_export.session"]


def test_the_lifecycle_and_the_readers_know_no_vendor() -> None:
    for name, imported in GRAPH.items():
        if name.startswith(("tap_profile_export.exports", "tap_profile_export.readers")):
            vendor_modules = {m for m in imported
                              if m.startswith("tap_profile_export.vendors.")}
            assert not vendor_modules, f"{name} imports {vendor_modules}"


def test_product_code_has_no_benchmark_switches() -> None:
    for path in MODULES.values():
        text = path.read_text()
        assert "TAP_PROFILE_EXPORT_REFERENCE" not in text, path
        assert "TAP_PROFILE_EXPORT_SEQUENTIAL" not in text, path


def test_private_sdk_modules_are_imported_in_one_place() -> None:
    users = set()
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [module]
            if any(n.startswith("singer_sdk") and any(p.startswith("_") for p in n.split("."))
                   for n in names):
                users.add(name)
    assert users == {"tap_profile_export.sdk_private"}
