"""The docs are generated from the code and must not drift from it."""

from __future__ import annotations

import re
from pathlib import Path

import cogapp
import pytest

from loader import problems

ROOT = Path(__file__).resolve().parent.parent
LOADER = ROOT / "loader"


def test_the_docs_code_table_is_the_registry():
    text = (ROOT / "docs" / "batch-format.md").read_text(encoding="utf-8")
    generated = re.search(r"\]\]\] -->\n(.*?)<!-- \[\[\[end\]\]\] -->", text, re.S)
    assert generated is not None, "docs/batch-format.md lost its generated code table"
    assert generated.group(1) == problems.docs_table()
    for code in problems.REGISTRY:
        assert f"| `{code}` |" in generated.group(1)


def test_every_registered_problem_is_raised_somewhere():
    sources = "\n".join(
        path.read_text(encoding="utf-8")
        for path in LOADER.rglob("*.py")
        if path.name != "problems.py"
    )
    names = [
        name for name, value in vars(problems).items() if isinstance(value, problems.ProblemType)
    ]
    unused = [name for name in names if f"problems.{name}" not in sources]
    assert unused == []


def test_codes_are_unique_and_well_formed():
    for code, problem in problems.REGISTRY.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", code)
        assert problem.title and problem.description and problem.template


@pytest.mark.parametrize("name", ["README.md", "docs/batch-format.md"])
def test_generated_sections_are_current(name):
    """README's command reference is each command's --help (run cog -r to refresh)."""
    status = cogapp.Cog().main(["cog", "--check", str(ROOT / name)])
    assert status == 0, f"{name} is out of date: run .venv/bin/cog -r {name}"
