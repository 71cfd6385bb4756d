"""The sandbox is a second, independent reading of the vendors' rules: it must share no code
(and so no assumption) with the tap, and it is not shipped in the wheel."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "sandbox"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "__import__" and node.args
              and isinstance(node.args[0], ast.Constant)) or (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value))
    return found


def test_sandbox_imports_nothing_from_the_tap() -> None:
    modules = sorted(SANDBOX.rglob("*.py"))
    assert len(modules) >= 5
    offenders = {str(path.relative_to(ROOT)): sorted(
        name for name in imported_modules(path)
        if name == "tap_profile_export" or name.startswith("tap_profile_export."))
        for path in modules}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_scan_sees_every_import_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import tap_profile_export.windows\nfrom tap_profile_export import x\n"
                      "importlib.import_module('tap_profile_export.http')\n")
    assert imported_modules(sample) == {"tap_profile_export.windows", "tap_profile_export",
                                        "tap_profile_export.http"}


def test_sandbox_is_not_packaged() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        "tap_profile_export"]
    assert set(project["project"]["scripts"]) == {"tap-profile-export"}
    assert not (ROOT / "tap_profile_export" / "sandbox").exists()
