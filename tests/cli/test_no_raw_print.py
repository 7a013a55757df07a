"""Every human-readable line of the CLI goes through cli/output.py `echo` (control characters
escaped, #16 F11): no subcommand module calls print() itself, except to write JSON."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "mtor_git" / "cli"


def _raw_prints(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "print":
            first = node.args[0] if node.args else None
            is_json = (isinstance(first, ast.Call) and isinstance(first.func, ast.Attribute)
                       and first.func.attr == "dumps")
            if not is_json:
                lines.append(node.lineno)
    return lines


def test_no_cli_module_prints_text_past_echo() -> None:
    found = {path.name: _raw_prints(ast.parse(path.read_text()))
             for path in sorted(CLI.glob("*.py")) if path.name != "output.py"}
    assert {name: lines for name, lines in found.items() if lines} == {}


def test_the_check_sees_a_raw_print() -> None:
    assert _raw_prints(ast.parse("print(title)\nprint(json.dumps(x))\n")) == [1]
