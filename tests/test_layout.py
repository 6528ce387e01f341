"""The layout keeps its shape: short functions, and every module named where a reader
looks for it (its package's docstring, the README's "How it is built" tree)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOADER = ROOT / "loader"
# A function's length: from its `def` line to its last line (decorators left out; its
# docstring, comments and blank lines inside counted). Over this, split it.
MAX_FUNCTION_LINES = 60


def functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno is not None
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


def test_no_function_in_the_loader_is_over_60_lines():
    long = [
        f"{path.relative_to(ROOT)}:{line} {name} ({length} lines)"
        for path in sorted(LOADER.rglob("*.py"))
        for name, line, length in functions(path)
        if length > MAX_FUNCTION_LINES
    ]
    assert long == [], "split these functions:\n" + "\n".join(long)


def test_the_length_counted_is_from_def_to_last_line(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('@decorated\ndef f():\n    """Doc."""\n\n    return 1\n')
    assert list(functions(path)) == [("f", 2, 4)]


def packages():
    return sorted(p.parent for p in LOADER.rglob("__init__.py"))


@pytest.mark.parametrize("package", packages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_package_docstring_names_every_module_in_it(package):
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    words = set(re.findall(r"[A-Za-z_]+", docstring))
    modules = [p.stem for p in package.glob("*.py") if p.stem != "__init__"]
    modules += [p.name for p in package.iterdir() if (p / "__init__.py").exists()]
    assert sorted(m for m in modules if m not in words) == []


def test_the_readme_tree_names_every_module_and_only_those():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tree = readme.split("## How it is built", 1)[1].split("```")[1]
    named = set(re.findall(r"([a-z_]+)\.py", tree)) | set(re.findall(r"([a-z_]+)/", tree))
    present = {p.stem for p in LOADER.rglob("*.py") if p.stem != "__init__"}
    present |= {p.parent.name for p in LOADER.rglob("__init__.py")}
    assert sorted(present - named) == [], "modules the README's tree does not name"
    assert sorted(named - present) == [], "names in the README's tree that are no module"
